import { reactive } from 'vue'
import { api } from '@/api/endpoints'
import type { Image, ImageStatus, ImageType } from '@/api/types'
import { createPagedList } from './pagedList'

export const galleryFilters = reactive<{ type: ImageType | ''; status: ImageStatus | '' }>({ type: '', status: '' })

export const gallery = createPagedList<Image, { type?: ImageType | ''; status?: ImageStatus | '' }>(
  (q) => api.listImages(q),
  () => ({ type: galleryFilters.type, status: galleryFilters.status }),
  24,
)

/** Replace an image in the loaded pages with a fresher copy of it. */
export function upsertGalleryImage(image: Image): void {
  const index = gallery.state.items.findIndex((i) => i.id === image.id)
  if (index >= 0) gallery.state.items.splice(index, 1, image)
}

export function removeGalleryImage(id: string): void {
  gallery.state.items = gallery.state.items.filter((i) => i.id !== id)
}

/** After sign-out, nothing of the previous user may stay on screen. */
export function resetGallery(): void {
  galleryFilters.type = ''
  galleryFilters.status = ''
  gallery.reset()
}
