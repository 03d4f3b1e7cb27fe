import { watch } from 'vue'
import type { Image } from '@/api/types'
import { onLiveMessage, setLiveToken } from '@/lib/live'
import { authState, setBalance } from './auth'
import { upsertGalleryImage } from './gallery'

/**
 * Keep the live socket open while signed in, and apply what it pushes: the balance shown everywhere,
 * and images in the gallery. Screens that follow one image listen for it themselves (followImage).
 */
export function startLiveUpdates(): () => void {
  const stopWatching = watch(() => authState.token, (token) => setLiveToken(token), { immediate: true })
  const stopListening = onLiveMessage((message) => {
    if (message.type === 'balance.changed' && typeof message.coins === 'number') setBalance(message.coins)
    if (message.type === 'image.updated' && message.image) upsertGalleryImage(message.image as Image)
  })
  return () => {
    stopWatching()
    stopListening()
    setLiveToken(null)
  }
}
