import { computed, reactive } from 'vue'
import { configureClient } from '@/api/client'
import { api } from '@/api/endpoints'
import type { Image, User } from '@/api/types'
import { isSupportedLanguage, setLanguage } from '@/i18n'
import { resetGallery } from './gallery'

export const TOKEN_KEY = 'imagegen.token'
const REDIRECT_KEY = 'imagegen.afterSignIn'
/** Set when this tab starts a sign-in; /auth/callback accepts a token only while it is there. */
export const SIGNIN_MARKER_KEY = 'imagegen.signInStarted'
/** How long a started sign-in may take before its callback is refused. */
export const SIGNIN_MARKER_TTL_MS = 15 * 60 * 1000

interface AuthState {
  token: string | null
  user: User | null
  loading: boolean
  /** Why the user was sent to the sign-in screen, if anything. */
  notice: 'session_expired' | 'signed_out' | 'account_deleted' | null
}

function readToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export const authState = reactive<AuthState>({
  token: readToken(),
  user: null,
  loading: false,
  notice: null,
})

type Navigate = (path: string) => void
let navigate: Navigate = (path) => {
  window.location.assign(path)
}

/** The router registers itself here so a 401 can send the user to /signin. */
export function setNavigator(fn: Navigate): void {
  navigate = fn
}

export function setToken(token: string | null): void {
  // nothing of one session's data may show in the next one
  if (token !== authState.token) resetGallery()
  authState.token = token
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token)
    else localStorage.removeItem(TOKEN_KEY)
  } catch {
    /* storage unavailable */
  }
}

/** Forget the session locally (no network). */
export function clearSession(notice: AuthState['notice'] = null): void {
  setToken(null)
  authState.user = null
  authState.notice = notice
}

/** Any 401 from the API: the session is gone. */
export function handleUnauthorized(): void {
  const hadSession = authState.token !== null
  clearSession(hadSession ? 'session_expired' : null)
  navigate('/signin')
}

/** Show a balance the API reported for the signed-in user. */
export function setBalance(coins: number): void {
  if (!authState.user || !Number.isFinite(coins) || authState.user.coins === coins) return
  authState.user = { ...authState.user, coins }
}

/** A user object from any answer: if it is the signed-in user, take its balance and roles. */
export function noteUser(user: User): void {
  if (!authState.user || user.id !== authState.user.id) return
  authState.user = { ...authState.user, ...user }
}

/**
 * An image was created and charged: take its cost off the balance shown right
 * away, then read the exact balance from /me.
 */
export function noteCharge(image: Pick<Image, 'coinsUsed'>): Promise<void> {
  if (authState.user && image.coinsUsed > 0) setBalance(Math.max(0, authState.user.coins - image.coinsUsed))
  return refreshMe()
}

configureClient({
  getToken: () => authState.token,
  onUnauthorized: handleUnauthorized,
  onOwnBalance: setBalance,
  onUser: (user) => noteUser(user as User),
})

export const isSignedIn = computed(() => authState.token !== null)
export const isAdmin = computed(() => authState.user?.roles.includes('ADMIN') ?? false)

export function applyUser(user: User): void {
  authState.user = user
  if (isSupportedLanguage(user.language)) setLanguage(user.language)
}

export async function loadMe(): Promise<User | null> {
  if (!authState.token) return null
  authState.loading = true
  try {
    const user = await api.me()
    applyUser(user)
    return user
  } finally {
    authState.loading = false
  }
}

/** Re-read the balance after something that spends or refunds coins. */
export async function refreshMe(): Promise<void> {
  try {
    await loadMe()
  } catch {
    /* keep the old user; a 401 has already been handled */
  }
}

/**
 * Read `#token=...` from a URL fragment (what the API's OAuth callback sends
 * the browser to). Returns null when there is none.
 */
export function tokenFromFragment(hash: string): string | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash
  if (!fragment) return null
  const token = new URLSearchParams(fragment).get('token')
  return token && token.trim() !== '' ? token.trim() : null
}

/**
 * The user starts a sign-in from this tab: leave a one-time marker (with the
 * time) that /auth/callback requires before it accepts a token. A token that
 * arrives without one was not asked for here (login CSRF: someone else's
 * session pushed into this browser) and is refused.
 */
export function beginSignIn(now: number = Date.now()): void {
  try {
    sessionStorage.setItem(SIGNIN_MARKER_KEY, JSON.stringify({ startedAt: now }))
  } catch {
    /* storage unavailable: the callback will refuse the token and say so */
  }
}

/** Take (and remove) the sign-in marker: true if this tab started a sign-in within the time limit. */
export function takeSignInMarker(now: number = Date.now()): boolean {
  try {
    const raw = sessionStorage.getItem(SIGNIN_MARKER_KEY)
    sessionStorage.removeItem(SIGNIN_MARKER_KEY)
    if (!raw) return false
    const startedAt = (JSON.parse(raw) as { startedAt?: unknown }).startedAt
    return typeof startedAt === 'number' && startedAt <= now && now - startedAt <= SIGNIN_MARKER_TTL_MS
  } catch {
    return false
  }
}

/** /auth/callback was reached without a sign-in started in this tab. */
export class SignInNotStartedError extends Error {
  constructor() {
    super('signin_not_started')
    this.name = 'SignInNotStartedError'
  }
}

/**
 * Complete sign-in on /auth/callback: take the token from the fragment, remove
 * it from the address bar, and, only if this tab started the sign-in (see
 * beginSignIn), store it and load the user.
 */
export async function completeSignIn(location: Location = window.location, history: History = window.history): Promise<User> {
  const token = tokenFromFragment(location.hash)
  const started = takeSignInMarker()
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search)
  if (!token) throw new Error('missing_token')
  // the current session, if any, stays as it was
  if (!started) throw new SignInNotStartedError()
  setToken(token)
  authState.notice = null
  const user = await loadMe()
  if (!user) throw new Error('missing_token')
  return user
}

export async function signOut(): Promise<void> {
  if (authState.token) {
    try {
      await api.logout()
    } catch {
      /* the token is dropped locally either way */
    }
  }
  clearSession('signed_out')
}

export function rememberRedirect(path: string): void {
  try {
    sessionStorage.setItem(REDIRECT_KEY, path)
  } catch {
    /* ignore */
  }
}

export function takeRedirect(): string {
  try {
    const path = sessionStorage.getItem(REDIRECT_KEY)
    sessionStorage.removeItem(REDIRECT_KEY)
    if (path && path.startsWith('/') && !path.startsWith('//') && !path.startsWith('/signin') && !path.startsWith('/auth/')) return path
  } catch {
    /* ignore */
  }
  return '/'
}
