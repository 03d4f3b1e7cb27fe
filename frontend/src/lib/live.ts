/**
 * Live updates: one WebSocket per signed-in tab (`?token=`), reconnecting with backoff while the
 * session lasts. Every message is applied where it belongs (the balance, the gallery) and handed to
 * whoever follows that image. `liveState.connected` says whether pushes can be relied on; while it is
 * false, the screens poll (see `followImage` in ./poll).
 */
import { reactive } from 'vue'
import type { Image, LedgerEntry } from '@/api/types'
import { websocketUrl } from '@/config'

export type LiveMessage =
  | { type: 'image.updated'; image: Image }
  | { type: 'balance.changed'; coins: number; entry: LedgerEntry }
  | { type: string; [key: string]: unknown }

export const liveState = reactive({ connected: false })

type Listener = (message: LiveMessage) => void
type StateListener = (connected: boolean) => void

interface SocketLike {
  onopen: ((event: Event) => void) | null
  onclose: ((event: CloseEvent) => void) | null
  onerror: ((event: Event) => void) | null
  onmessage: ((event: MessageEvent) => void) | null
  close(code?: number): void
  readonly readyState: number
}

export interface LiveOptions {
  /** Builds the socket (tests give a fake). */
  createSocket?: (url: string) => SocketLike
  /** Delay before the n-th reconnection attempt (0-based), ms. */
  backoff?: (attempt: number) => number
  url?: () => string | null
}

const listeners = new Set<Listener>()
const stateListeners = new Set<StateListener>()
let socket: SocketLike | null = null
let token: string | null = null
let attempts = 0
let retryTimer: ReturnType<typeof setTimeout> | null = null
let options: Required<LiveOptions> = {
  createSocket: (url) => new WebSocket(url),
  backoff: (attempt) => Math.min(30_000, 1000 * 2 ** attempt),
  url: () => websocketUrl(),
}

export function configureLive(overrides: LiveOptions): void {
  options = { ...options, ...overrides }
}

/** Every message, whatever it is about; returns the unsubscribe. */
export function onLiveMessage(listener: Listener): () => void {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

/** Told when the socket opens (true) or is lost (false); returns the unsubscribe. */
export function onLiveState(listener: StateListener): () => void {
  stateListeners.add(listener)
  return () => stateListeners.delete(listener)
}

function setConnected(connected: boolean): void {
  if (liveState.connected === connected) return
  liveState.connected = connected
  for (const listener of [...stateListeners]) listener(connected)
}

/** Open the socket for this session's token, or close it (null): call whenever the token changes. */
export function setLiveToken(next: string | null): void {
  if (next === token) return
  token = next
  disconnect()
  attempts = 0
  if (next) connect()
}

function disconnect(): void {
  if (retryTimer !== null) clearTimeout(retryTimer)
  retryTimer = null
  const old = socket
  socket = null
  if (old) {
    old.onclose = null
    old.onmessage = null
    old.onerror = null
    old.onopen = null
    old.close(1000)
  }
  setConnected(false)
}

function connect(): void {
  const base = options.url()
  if (!token || !base) return
  const mine = options.createSocket(`${base}?token=${encodeURIComponent(token)}`)
  socket = mine
  mine.onopen = () => {
    if (socket !== mine) return
    attempts = 0
    setConnected(true)
  }
  mine.onmessage = (event: MessageEvent) => {
    if (socket !== mine) return
    let message: LiveMessage
    try {
      message = JSON.parse(String(event.data)) as LiveMessage
    } catch {
      return
    }
    if (!message || typeof message.type !== 'string') return
    for (const listener of [...listeners]) listener(message)
  }
  mine.onclose = () => {
    if (socket !== mine) return
    socket = null
    setConnected(false)
    // A refused handshake (a signed-out token) looks the same as a lost network: keep trying, slowly;
    // the API's own 401s end the session, which closes this for good.
    if (token) retryTimer = setTimeout(connect, options.backoff(attempts++))
  }
  mine.onerror = () => {
    /* onclose follows */
  }
}

/** For tests: forget everything. */
export function resetLive(): void {
  token = null
  disconnect()
  listeners.clear()
  stateListeners.clear()
  attempts = 0
}
