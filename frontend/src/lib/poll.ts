import { ApiError } from '@/api/client'
import { api } from '@/api/endpoints'
import { isTerminal, type Image } from '@/api/types'

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
