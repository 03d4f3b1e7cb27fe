import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '@/api/endpoints'
import { locale, setLanguage } from '@/i18n'
import { flushPromises } from '@vue/test-utils'
import AuthCallbackView from '@/views/AuthCallbackView.vue'
import {
  authState,
  beginSignIn,
  clearSession,
  completeSignIn,
  isAdmin,
  rememberRedirect,
  setNavigator,
  setToken,
  SIGNIN_MARKER_KEY,
  SIGNIN_MARKER_TTL_MS,
  SignInNotStartedError,
  signOut,
  takeRedirect,
  TOKEN_KEY,
  tokenFromFragment,
} from '@/stores/auth'
import { json, makeUser, mockFetch, mountView } from './helpers'

function fakeLocation(hash: string): Location {
  return { hash, pathname: '/auth/callback', search: '' } as Location
}

describe('auth store', () => {
  const navigate = vi.fn()
  beforeEach(() => {
    localStorage.clear()
    sessionStorage.clear()
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
    beginSignIn()
    const user = await completeSignIn(fakeLocation('#token=secret-token'), { state: null, replaceState } as unknown as History)

    expect(user.email).toBe('ada@example.com')
    expect(localStorage.getItem(TOKEN_KEY)).toBe('secret-token')
    expect(authState.token).toBe('secret-token')
    expect(replaceState).toHaveBeenCalledWith(null, '', '/auth/callback')
    expect(calls[0].headers.authorization).toBe('Bearer secret-token')
    expect(locale.value).toBe('es')
    expect(isAdmin.value).toBe(true)
    // the marker is used up
    expect(sessionStorage.getItem(SIGNIN_MARKER_KEY)).toBeNull()
  })

  it('refuses a token when this tab did not start a sign-in (login CSRF), keeping the current session', async () => {
    setToken('my-own-session')
    const { calls } = mockFetch({ 'GET /me': () => json(200, makeUser()) })
    const replaceState = vi.fn()
    await expect(completeSignIn(fakeLocation('#token=attacker-token'), { state: null, replaceState } as unknown as History)).rejects.toBeInstanceOf(SignInNotStartedError)
    expect(authState.token).toBe('my-own-session')
    expect(localStorage.getItem(TOKEN_KEY)).toBe('my-own-session')
    expect(calls).toHaveLength(0)
    // the foreign token is still taken out of the address bar
    expect(replaceState).toHaveBeenCalledWith(null, '', '/auth/callback')
  })

  it('accepts a started sign-in once only, and not after the time limit', async () => {
    mockFetch({ 'GET /me': () => json(200, makeUser()) })
    const history = { state: null, replaceState: vi.fn() } as unknown as History
    beginSignIn()
    await completeSignIn(fakeLocation('#token=first'), history)
    clearSession()
    await expect(completeSignIn(fakeLocation('#token=replayed'), history)).rejects.toBeInstanceOf(SignInNotStartedError)
    expect(authState.token).toBeNull()

    beginSignIn(Date.now() - SIGNIN_MARKER_TTL_MS - 1000)
    await expect(completeSignIn(fakeLocation('#token=late'), history)).rejects.toBeInstanceOf(SignInNotStartedError)
    expect(authState.token).toBeNull()
    expect(sessionStorage.getItem(SIGNIN_MARKER_KEY)).toBeNull()

    sessionStorage.setItem(SIGNIN_MARKER_KEY, 'not json')
    await expect(completeSignIn(fakeLocation('#token=garbled'), history)).rejects.toBeInstanceOf(SignInNotStartedError)
    expect(authState.token).toBeNull()
  })

  it('the callback screen signs in after a sign-in started here', async () => {
    mockFetch({ 'GET /me': () => json(200, makeUser()) })
    window.history.replaceState(null, '', '/auth/callback#token=good-token')
    beginSignIn()
    const { wrapper, router } = await mountView(AuthCallbackView, '/auth/callback', [{ path: '/auth/callback', name: 'callback', component: AuthCallbackView }])
    await flushPromises()
    expect(authState.token).toBe('good-token')
    expect(router.currentRoute.value.path).toBe('/')
    expect(window.location.hash).toBe('')
    wrapper.unmount()
  })

  it('the callback screen refuses a sign-in not started here and says so', async () => {
    const { calls } = mockFetch({ 'GET /me': () => json(200, makeUser()) })
    window.history.replaceState(null, '', '/auth/callback#token=planted-token')
    const { wrapper, router } = await mountView(AuthCallbackView, '/auth/callback', [{ path: '/auth/callback', name: 'callback', component: AuthCallbackView }])
    await flushPromises()
    expect(authState.token).toBeNull()
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull()
    expect(calls).toHaveLength(0)
    expect(router.currentRoute.value.path).toBe('/auth/callback')
    expect(wrapper.find('[data-testid="error"]').text()).toContain('This sign-in was not started here; sign in again.')
    expect(wrapper.find('a[href="/signin"]').exists()).toBe(true)
    expect(window.location.hash).toBe('')
    wrapper.unmount()
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
