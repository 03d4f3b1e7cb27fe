import type { Image } from '@/api/types'

const EXTENSIONS: Record<string, string> = { jpeg: 'jpg', jpg: 'jpg', png: 'png', webp: 'webp', gif: 'gif' }

/**
 * The file name a download is saved under: the image's title and the extension of its detected format,
 * as the API's Content-Disposition names it. Path separators, control characters and characters
 * file systems refuse become "-"; an empty result is "image".
 */
export function downloadName(img: Pick<Image, 'title' | 'metadata'>): string {
  const format = String(img.metadata?.format ?? '').toLowerCase()
  const ext = EXTENSIONS[format]
  // eslint-disable-next-line no-control-regex
  let base = (img.title ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069/\\:*?"<>|]+/g, '-')
  base = base.trim().replace(/^\.+/, '').slice(0, 200).trim()
  if (!base || /^-+$/.test(base)) base = 'image'
  return ext ? `${base}.${ext}` : base
}
