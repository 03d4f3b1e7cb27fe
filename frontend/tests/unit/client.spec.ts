import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, buildPath, configureClient, NetworkError, parseRetryAfter, request } from '@/api/client'
import { describeError, errorMessage, failureText } from '@/lib/errors'
import { setLanguage } from '@/i18n'
import { json, mockFetch } from './helpers'

async function failWith(response: Response): Promise<unknown> {
  mockFetch({ 'POST /images/generate': () => response })
  try {
    await request('POST', '/images/generate', { body: { prompt: 'x' } })
  } catch (err) {
    return err
  }
  throw new Error('expected the request to fail')
}

describe('API client error mapping', () => {
  const onUnauthorized = vi.fn()
  beforeEach(() => {
    setLanguage('en')
    onUnauthorized.mockReset()
    configureClient({ getToken: () => 'tok', onUnauthorized })
  })
  afterEach(() => vi.unstubAllGlobals())

  it('sends JSON with the bearer token and parses the answer', async () => {
    const { calls } = mockFetch({ 'PATCH /me': (c) => json(200, { echoed: c.body }) })
    const result = await request<{ echoed: unknown }>('PATCH', '/me', { body: { firstName: 'Ada' } })
    expect(result.echoed).toEqual({ firstName: 'Ada' })
    expect(calls[0].headers.authorization).toBe('Bearer tok')
    expect(calls[0].headers['content-type']).toBe('application/json')
  })

  it('returns undefined for 204', async () => {
    mockFetch({ 'DELETE /images/x': () => new Response(null, { status: 204 }) })
    await expect(request('DELETE', '/images/x')).resolves.toBeUndefined()
  })

  it('insufficient_coins says how many coins are needed', async () => {
    const err = await failWith(json(402, { type: 'about:blank', title: 'Payment Required', status: 402, code: 'insufficient_coins', detail: 'Not enough coins', required: 50, available: 20 }))
    expect(err).toBeInstanceOf(ApiError)
    const e = err as ApiError
    expect(e.code).toBe('insufficient_coins')
    expect(e.required).toBe(50)
    expect(e.available).toBe(20)
    expect(errorMessage(e)).toBe('Not enough coins: this needs 50 and you have 20 (30 more needed).')
  })

  it('rate_limited says when to retry, from the Retry-After header', async () => {
    const err = await failWith(json(429, { status: 429, code: 'rate_limited', detail: 'Slow down', retryAfter: 99 }, { 'Retry-After': '30' }))
    expect((err as ApiError).retryAfter).toBe(30)
    expect(errorMessage(err)).toBe('Too many requests. Please try again in 30 seconds.')
  })

  it('rate_limited falls back to the retryAfter member, and to minutes when long', async () => {
    const err = await failWith(json(429, { status: 429, code: 'rate_limited', retryAfter: 120 }))
    expect((err as ApiError).retryAfter).toBe(120)
    expect(errorMessage(err)).toBe('Too many requests. Please try again in 2 minutes.')
    const one = await failWith(json(429, { status: 429, code: 'rate_limited', retryAfter: 1 }))
    expect(errorMessage(one)).toContain('in 1 second.')
  })

  it('validation_error lists every field in plain words', async () => {
    const err = await failWith(
      json(422, {
        status: 422,
        code: 'validation_error',
        detail: 'Invalid request',
        errors: [
          { field: 'width', message: 'must be a multiple of 64' },
          { field: 'prompt', message: 'is required' },
        ],
      }),
    )
    const d = describeError(err)
    expect(d.message).toBe('Some of the information needs fixing:')
    expect(d.details).toEqual(['Width: must be a multiple of 64', 'Prompt: is required'])
  })

  it('known codes get their own message; unknown codes show the detail', async () => {
    expect(errorMessage(await failWith(json(404, { status: 404, code: 'not_found', detail: 'Image 123 not found' })))).toBe('That could not be found. It may have been deleted.')
    expect(errorMessage(await failWith(json(409, { status: 409, code: 'something_new', detail: 'A brand new problem.' })))).toBe('A brand new problem.')
  })

  it('a 500 without a problem body is a plain server error', async () => {
    const err = await failWith(new Response('<html>oops</html>', { status: 502, headers: { 'Content-Type': 'text/html' } }))
    expect((err as ApiError).code).toBe('http_502')
    expect(errorMessage(err)).toBe('The server had a problem. Please try again in a moment.')
  })

  it('a failed connection is a NetworkError', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))))
    const err = await request('GET', '/me').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NetworkError)
    expect(errorMessage(err)).toContain("Can't reach the server")
  })

  it('any 401 calls the sign-out hook, except when told not to', async () => {
    mockFetch({ 'GET /me': () => json(401, { status: 401, code: 'unauthorized', detail: 'Token expired' }) })
    await expect(request('GET', '/me')).rejects.toBeInstanceOf(ApiError)
    expect(onUnauthorized).toHaveBeenCalledTimes(1)
    await expect(request('GET', '/me', { ignoreUnauthorized: true })).rejects.toBeInstanceOf(ApiError)
    expect(onUnauthorized).toHaveBeenCalledTimes(1)
  })

  it('messages follow the interface language', async () => {
    const err = await failWith(json(402, { status: 402, code: 'insufficient_coins', required: 50, available: 0 }))
    setLanguage('es')
    expect(errorMessage(err)).toBe('No tienes suficientes monedas: se necesitan 50 y tienes 0 (te faltan 50).')
  })
})

describe('helpers', () => {
  it('parses Retry-After as seconds or HTTP date', () => {
    expect(parseRetryAfter('15')).toBe(15)
    const now = Date.parse('2024-01-01T00:00:00Z')
    expect(parseRetryAfter('Mon, 01 Jan 2024 00:01:00 GMT', now)).toBe(60)
    expect(parseRetryAfter('soon')).toBeNull()
    expect(parseRetryAfter(null)).toBeNull()
  })

  it('builds query strings without empty values', () => {
    expect(buildPath('/images', { type: 'GENERATED', status: '', cursor: null, limit: 20 })).toBe('/images?type=GENERATED&limit=20')
    expect(buildPath('/images', {})).toBe('/images')
  })

  it('turns failure reasons into plain words', () => {
    setLanguage('en')
    expect(failureText('not_an_image')).toBe('The file is not an image.')
    expect(failureText('model_exploded')).toBe('Model exploded')
    expect(failureText(null)).toBe('Something went wrong while making this image.')
  })
})
