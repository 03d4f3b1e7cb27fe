import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '@/api/endpoints'
import { locale, setLanguage } from '@/i18n'
import {
  authState,
  clearSession,
  completeSignIn,
  isAdmin,
  rememberRedirect,
  setNavigator,
  setToken,
  signOut,
  takeRedirect,
  TOKEN_KEY,
  tokenFromFragment,
} from '@/stores/auth'
import { json, makeUser, mockFetch } from './helpers'

function fakeLocation(hash: string): Location {
  return { hash, pathname: '/auth/callback', search: '' } as Location
}

describe('auth store', () => {
  const navigate = vi.fn()
  beforeEach(() => {
    localStorage.clear()
    clearSession()
    setLanguage('en')
    navigate.mockReset()
    setNavigator(navigate)
  })
  afterEach(() => vi.unstubAllGlobals())

  it('reads the token from the URL fragment', () => {
    expect(tokenFromFragment('#token=abc.def-ghi')).toBe('abc.def-ghi')
    expect(tokenFromFragment('#state=1&token=xyz')).toBe('xyz')
    expect(tokenFromFragment('token=t2')).toBe('t2')
    expect(tokenFromFragment('')).toBeNull()
    expect(tokenFromFragment('#token=')).toBeNull()
    expect(tokenFromFragment('#other=1')).toBeNull()
  })

  it('completes sign-in: stores the token, clears the address bar, loads /me and its language', async () => {
    const { calls } = mockFetch({ 'GET /me': () => json(200, makeUser({ language: 'es', roles: ['USER', 'ADMIN'] })) })
    const replaceState = vi.fn()
    const user = await completeSignIn(fakeLocation('#token=secret-token'), { state: null, replaceState } as unknown as History)

    expect(user.email).toBe('ada@example.com')
    expect(localStorage.getItem(TOKEN_KEY)).toBe('secret-token')
    expect(authState.token).toBe('secret-token')
    expect(replaceState).toHaveBeenCalledWith(null, '', '/auth/callback')
    expect(calls[0].headers.authorization).toBe('Bearer secret-token')
    expect(locale.value).toBe('es')
    expect(isAdmin.value).toBe(true)
  })

  it('fails without a token in the fragment', async () => {
    const { calls } = mockFetch({})
    await expect(completeSignIn(fakeLocation(''), { state: null, replaceState: vi.fn() } as unknown as History)).rejects.toThrow('missing_token')
    expect(calls).toHaveLength(0)
  })

  it('signs out and goes to /signin on any 401', async () => {
    setToken('expired')
    authState.user = makeUser()
    mockFetch({ 'GET /images': () => json(401, { status: 401, code: 'unauthorized', detail: 'expired' }) })
    await expect(api.listImages()).rejects.toMatchObject({ status: 401 })
    expect(authState.token).toBeNull()
    expect(authState.user).toBeNull()
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull()
    expect(authState.notice).toBe('session_expired')
    expect(navigate).toHaveBeenCalledWith('/signin')
  })

  it('signOut revokes the token on the server and forgets it', async () => {
    setToken('live')
    const { calls } = mockFetch({ 'POST /auth/logout': () => new Response(null, { status: 204 }) })
    await signOut()
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(['POST /auth/logout'])
    expect(calls[0].headers.authorization).toBe('Bearer live')
    expect(authState.token).toBeNull()
    expect(authState.notice).toBe('signed_out')
  })

  it('signOut still forgets the token when logout fails, without looping on 401', async () => {
    setToken('dead')
    mockFetch({ 'POST /auth/logout': () => json(401, { status: 401, code: 'unauthorized' }) })
    await signOut()
    expect(authState.token).toBeNull()
    expect(navigate).not.toHaveBeenCalled()
  })

  it('remembers where to go after sign-in, only for local paths', () => {
    rememberRedirect('/account')
    expect(takeRedirect()).toBe('/account')
    expect(takeRedirect()).toBe('/')
    rememberRedirect('//evil.example.com')
    expect(takeRedirect()).toBe('/')
  })
})
