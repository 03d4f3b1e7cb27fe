import type { LocationQuery } from 'vue-router'
import type { Image, Quality } from '@/api/types'

/** The largest seed the API takes (an image's model may take fewer; the API says so with a 422). */
export const SEED_MAX = 2147483647

/** A seed typed by the user: null when empty, 'invalid' unless a whole number 0..SEED_MAX. */
export function parseSeed(raw: string): number | null | 'invalid' {
  const text = raw.trim()
  if (!text) return null
  if (!/^\d{1,10}$/.test(text)) return 'invalid'
  const value = Number(text)
  return value <= SEED_MAX ? value : 'invalid'
}

export interface Prefill {
  prompt?: string
  width?: number
  height?: number
  style?: string
  negativePrompt?: string
  seed?: number
  quality?: Quality
}

function one(query: LocationQuery, name: string): string | undefined {
  const value = query[name]
  const text = Array.isArray(value) ? value[0] : value
  return typeof text === 'string' && text !== '' ? text : undefined
}

/** The Create form's fields from its query (what "Reuse this seed" links to); unknown values are ignored. */
export function prefillFromQuery(query: LocationQuery, sizes: number[]): Prefill {
  const found: Prefill = {}
  const prompt = one(query, 'prompt')
  if (prompt) found.prompt = prompt.slice(0, 1000)
  for (const side of ['width', 'height'] as const) {
    const value = Number(one(query, side))
    if (sizes.includes(value)) found[side] = value
  }
  const style = one(query, 'style')
  if (style && /^[a-z0-9-]{1,40}$/.test(style)) found.style = style
  const negative = one(query, 'negativePrompt')
  if (negative) found.negativePrompt = negative.slice(0, 1000)
  const seed = parseSeed(one(query, 'seed') ?? '')
  if (typeof seed === 'number') found.seed = seed
  const quality = one(query, 'quality')
  if (quality === 'premium' || quality === 'standard') found.quality = quality
  return found
}

/** The Create form's query that makes ``image`` again: its prompt, size, style, seed and quality. */
export function reuseQuery(image: Image): Record<string, string> {
  const query: Record<string, string> = {}
  const g = image.generation
  if (image.prompt) query.prompt = image.prompt
  const width = Number(image.metadata?.width)
  const height = Number(image.metadata?.height)
  if (width > 0 && height > 0) {
    query.width = String(width)
    query.height = String(height)
  }
  if (g?.seed !== null && g?.seed !== undefined) query.seed = String(g.seed)
  if (g?.style) query.style = g.style
  if (g?.negativePrompt) query.negativePrompt = g.negativePrompt
  if (g?.quality === 'premium') query.quality = 'premium'
  return query
}
