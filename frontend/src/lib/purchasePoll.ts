import { ApiError } from '@/api/client'
import { api } from '@/api/endpoints'
import { isSettled, type Purchase } from '@/api/types'
import { liveState, onLiveMessage } from './live'

export interface PurchasePollOptions {
  signal?: AbortSignal
  delay?: (attempt: number) => number
  getPurchase?: (id: string, signal?: AbortSignal) => Promise<Purchase>
  /** Give up after this long (ms): the last purchase seen is returned, still PENDING. */
  timeoutMs?: number
}

const defaultDelay = (attempt: number): number => (attempt < 20 ? 1000 : 3000)
/** With the live socket up, the purchase is pushed (purchase.updated): only a slow safety read remains. */
const LIVE_QUIET_MS = 20_000

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('Aborted', 'AbortError'))
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(new DOMException('Aborted', 'AbortError'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * Poll GET /me/purchases/{id} until Stripe's webhook has settled the purchase (PAID, FAILED, EXPIRED or
 * REVERSED). Temporary failures (network, 5xx, 429) are retried; other API errors (404...) throw.
 */
export async function waitForPurchase(
  id: string,
  onUpdate: (purchase: Purchase) => void,
  options: PurchasePollOptions = {},
): Promise<Purchase | null> {
  const delay = options.delay ?? defaultDelay
  const getPurchase = options.getPurchase ?? api.purchase
  const deadline = Date.now() + (options.timeoutMs ?? 2 * 60 * 1000)
  let last: Purchase | null = null
  let pushed: Purchase | null = null
  let wake: (() => void) | null = null
  const stop = onLiveMessage((message) => {
    const purchase = message.type === 'purchase.updated' ? (message.purchase as Purchase | undefined) : undefined
    if (purchase && purchase.id === id) {
      pushed = purchase
      wake?.()
    }
  })
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        last = await getPurchase(id, options.signal)
        onUpdate(last)
        if (isSettled(last)) return last
      } catch (err) {
        if ((err as Error)?.name === 'AbortError') throw err
        const temporary = !(err instanceof ApiError) || err.status >= 500 || err.status === 429
        if (!temporary) throw err
      }
      if (Date.now() >= deadline) return last
      // A push (purchase.updated) ends the wait at once; with the socket up, only a slow safety read remains.
      const wait = liveState.connected ? LIVE_QUIET_MS : delay(attempt)
      const woken = new Promise<void>((resolve) => (wake = resolve))
      await Promise.race([sleep(Math.min(wait, Math.max(0, deadline - Date.now())), options.signal), woken])
      wake = null
      const arrived = pushed as Purchase | null
      pushed = null
      if (arrived) {
        last = arrived
        onUpdate(arrived)
        if (isSettled(arrived)) return arrived
      }
    }
  } finally {
    stop()
  }
}
