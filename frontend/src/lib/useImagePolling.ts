import { onBeforeUnmount, ref } from 'vue'
import { isTerminal, type Image } from '@/api/types'
import { refreshMe } from '@/stores/auth'
import { upsertGalleryImage } from '@/stores/gallery'
import { followImage, type FollowOptions } from './poll'

/** Follow one image's status until it is COMPLETED or FAILED (pushed while the live socket is up,
 * polled otherwise); stops on unmount. */
export function useImagePolling(options: Omit<FollowOptions, 'signal'> = {}) {
  const image = ref<Image | null>(null)
  const timedOut = ref(false)
  const error = ref<unknown>(null)
  let controller: AbortController | null = null

  function stop() {
    controller?.abort()
    controller = null
  }

  async function start(initial: Image): Promise<Image | null> {
    stop()
    image.value = initial
    timedOut.value = false
    error.value = null
    if (isTerminal(initial.status)) return initial
    const mine = new AbortController()
    controller = mine
    try {
      const last = await followImage(
        initial.id,
        (next) => {
          image.value = next
          upsertGalleryImage(next)
        },
        { ...options, signal: mine.signal },
      )
      if (last && !isTerminal(last.status)) timedOut.value = true
      if (last?.status === 'FAILED' && last.coinsUsed > 0) void refreshMe()
      return last
    } catch (err) {
      if (!mine.signal.aborted) error.value = err
      return null
    } finally {
      if (controller === mine) controller = null
    }
  }

  onBeforeUnmount(stop)
  return { image, timedOut, error, start, stop }
}
