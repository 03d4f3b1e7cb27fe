import { apiUrl } from '@/config'

export interface FieldError {
  field: string
  message: string
}

/** A problem+json (RFC 9457) answer from the API, or an HTTP error without one. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly title: string | null
  readonly detail: string | null
  readonly errors: FieldError[]
  /** insufficient_coins */
  readonly required: number | null
  readonly available: number | null
  /** rate_limited: seconds to wait, from Retry-After or the `retryAfter` member */
  readonly retryAfter: number | null
  readonly problem: Record<string, unknown>

  constructor(status: number, problem: Record<string, unknown>, retryAfterHeader: string | null = null) {
    const str = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : null)
    const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : null)
    const code = str(problem.code) ?? `http_${status}`
    super(str(problem.detail) ?? str(problem.title) ?? code)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.title = str(problem.title)
    this.detail = str(problem.detail)
    this.errors = Array.isArray(problem.errors)
      ? problem.errors
          .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
          .map((e) => ({ field: String(e.field ?? ''), message: String(e.message ?? '') }))
      : []
    this.required = num(problem.required)
    this.available = num(problem.available)
    this.retryAfter = parseRetryAfter(retryAfterHeader) ?? num(problem.retryAfter)
    this.problem = problem
  }
}

/** The request never got an HTTP answer (offline, DNS, CORS, aborted...). */
export class NetworkError extends Error {
  constructor(cause?: unknown) {
    super('network_error')
    this.name = 'NetworkError'
    this.cause = cause
  }
}

/** Seconds from a Retry-After header (delta-seconds or HTTP-date). */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | null {
  if (value === null || value.trim() === '') return null
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return null
  return Math.max(0, Math.ceil((date - now) / 1000))
}

interface ClientHooks {
  getToken: () => string | null
  onUnauthorized: () => void
  /** The API reported the signed-in user's own balance (e.g. `available` of a 402 on their own spend). */
  onOwnBalance: (coins: number) => void
  /** The API answered with a user object (GET /me, an admin change, ...): maybe the signed-in user. */
  onUser: (user: { id: string; coins: number }) => void
}

const hooks: ClientHooks = {
  getToken: () => null,
  onUnauthorized: () => {},
  onOwnBalance: () => {},
  onUser: () => {},
}

/** Pass a user object from an answer on to the session (it updates the balance if it is the signed-in user). */
export function reportUser<T extends { id: string; coins: number }>(user: T): T {
  if (user && typeof user.id === 'string' && typeof user.coins === 'number') hooks.onUser(user)
  return user
}

/**
 * A request that spends the caller's own coins failed: a `402 insufficient_coins`
 * carries the caller's current balance (`available`), so pass it on. Rethrows.
 */
export function reportOwnSpendError(err: unknown): never {
  if (err instanceof ApiError && err.code === 'insufficient_coins' && err.available !== null) hooks.onOwnBalance(err.available)
  throw err
}

export function configureClient(next: Partial<ClientHooks>): void {
  Object.assign(hooks, next)
}

export function authHeader(): Record<string, string> {
  const token = hooks.getToken()
  return token ? { Authorization: `Bearer ${token}` } : {}
}

export interface RequestOptions {
  body?: unknown
  query?: Record<string, string | number | null | undefined>
  headers?: Record<string, string>
  signal?: AbortSignal
  /** Do not sign out on 401 (used by the logout call itself). */
  ignoreUnauthorized?: boolean
}

export function buildPath(path: string, query?: RequestOptions['query']): string {
  if (!query) return path
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value))
  }
  const qs = params.toString()
  return qs ? `${path}?${qs}` : path
}

async function readProblem(response: Response): Promise<Record<string, unknown>> {
  const type = response.headers.get('Content-Type') ?? ''
  if (!type.includes('json')) return {}
  try {
    const body: unknown = await response.json()
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** Turn a non-2xx response into an ApiError (and sign out on 401). */
export async function toApiError(response: Response, ignoreUnauthorized = false): Promise<ApiError> {
  const problem = await readProblem(response)
  const error = new ApiError(response.status, problem, response.headers.get('Retry-After'))
  if (response.status === 401 && !ignoreUnauthorized) hooks.onUnauthorized()
  return error
}

export async function request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeader(), ...options.headers }
  let body: string | undefined
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json'
    body = JSON.stringify(options.body)
  }
  let response: Response
  try {
    response = await fetch(apiUrl(buildPath(path, options.query)), { method, headers, body, signal: options.signal })
  } catch (cause) {
    throw new NetworkError(cause)
  }
  if (!response.ok) throw await toApiError(response, options.ignoreUnauthorized)
  if (response.status === 204 || response.status === 205) return undefined as T
  const text = await response.text()
  return (text ? JSON.parse(text) : undefined) as T
}

/** A random key for the Idempotency-Key header. */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  const bytes = new Uint8Array(16)
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes)
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
