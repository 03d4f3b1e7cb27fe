import { ApiError } from '@/api/client'
import { api } from '@/api/endpoints'
import { isTerminal, type Image } from '@/api/types'
import { liveState, onLiveMessage, onLiveState } from './live'

export interface PollOptions {
  signal?: AbortSignal
  /** Delay before the n-th poll (0-based). */
  delay?: (attempt: number) => number
  getImage?: (id: string, signal?: AbortSignal) => Promise<Image>
  /** Give up after this long (ms); the last seen image is returned. */
  timeoutMs?: number
}

export const defaultDelay = (attempt: number): number => (attempt < 10 ? 1000 : attempt < 30 ? 2000 : 4000)

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
 * Poll GET /images/{id} until the image is COMPLETED or FAILED, reporting
 * every state on the way. Temporary failures (network, 5xx, 429) are retried;
 * other API errors (404, 401, ...) end the polling by throwing.
 */
export async function pollImage(id: string, onUpdate: (image: Image) => void, options: PollOptions = {}): Promise<Image | null> {
  const delay = options.delay ?? defaultDelay
  const getImage = options.getImage ?? api.getImage
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60 * 1000)
  let last: Image | null = null
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    await sleep(delay(attempt), options.signal)
    try {
      const image = await getImage(id, options.signal)
      last = image
      onUpdate(image)
      if (isTerminal(image.status)) return image
    } catch (err) {
      if (options.signal?.aborted) throw err
      const temporary = !(err instanceof ApiError) || err.status >= 500 || err.status === 429
      if (!temporary) throw err
    }
  }
  return last
}

export interface FollowOptions extends PollOptions {
  /** While the socket is up and nothing arrives for this long, read the image once anyway (ms). */
  quietMs?: number
}

/**
 * Follow an image to COMPLETED or FAILED: by the live socket's pushes while it is connected (no
 * requests at all), by polling while it is not. When the socket (re)connects mid-way, the image is
 * read once, since pushes made while it was down are not replayed.
 */
export async function followImage(id: string, onUpdate: (image: Image) => void, options: FollowOptions = {}): Promise<Image | null> {
  const delay = options.delay ?? defaultDelay
  const getImage = options.getImage ?? api.getImage
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60 * 1000)
  const quietMs = options.quietMs ?? 20_000
  const pushed: Image[] = []
  let wake: (() => void) | null = null
  let refresh = false
  const stopMessages = onLiveMessage((message) => {
    if (message.type === 'image.updated' && (message.image as Image | undefined)?.id === id) {
      pushed.push(message.image as Image)
      wake?.()
    }
  })
  const stopState = onLiveState((connected) => {
    if (connected) refresh = true
    wake?.()
  })
  let last: Image | null = null
  const seen = (image: Image): boolean => {
    last = image
    onUpdate(image)
    return isTerminal(image.status)
  }
  const read = async (): Promise<boolean> => {
    try {
      return seen(await getImage(id, options.signal))
    } catch (err) {
      if (options.signal?.aborted) throw err
      const temporary = !(err instanceof ApiError) || err.status >= 500 || err.status === 429
      if (!temporary) throw err
      return false
    }
  }
  try {
    let attempt = 0
    while (Date.now() < deadline) {
      if (options.signal?.aborted) throw new DOMException('Aborted', 'AbortError')
      while (pushed.length) if (seen(pushed.shift() as Image)) return last
      if (liveState.connected) {
        if (refresh) {
          refresh = false
          if (await read()) return last
          continue
        }
        const quiet = await new Promise<boolean>((resolve, reject) => {
          const timer = setTimeout(() => done(true), Math.min(quietMs, Math.max(0, deadline - Date.now())))
          const onAbort = () => {
            clearTimeout(timer)
            wake = null
            reject(new DOMException('Aborted', 'AbortError'))
          }
          function done(timedOut: boolean) {
            clearTimeout(timer)
            wake = null
            options.signal?.removeEventListener('abort', onAbort)
            resolve(timedOut)
          }
          wake = () => done(false)
          options.signal?.addEventListener('abort', onAbort, { once: true })
        })
        if (quiet) refresh = true
        continue
      }
      await sleep(delay(attempt++), options.signal)
      if (pushed.length || liveState.connected) continue // the socket came back: its one read instead
      if (await read()) return last
    }
    return last
  } finally {
    stopMessages()
    stopState()
  }
}
