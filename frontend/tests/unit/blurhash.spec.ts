import { describe, expect, it } from 'vitest'
import { decode as referenceDecode, encode as referenceEncode } from 'blurhash'
import { decode83, decodeBlurhash, isValidBlurhash } from '@/lib/blurhash'

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~'
function encode83(value: number, length: number): string {
  let out = ''
  for (let i = 1; i <= length; i++) out += DIGITS[Math.floor(value / Math.pow(83, length - i)) % 83]
  return out
}

describe('BlurHash decoder', () => {
  it('decodes base 83', () => {
    expect(decode83('0')).toBe(0)
    expect(decode83('~')).toBe(82)
    expect(decode83('10')).toBe(83)
  })

  it('a hash with only the DC component is one flat colour', () => {
    const hash = `00${encode83(0xff8000, 4)}`
    expect(isValidBlurhash(hash)).toBe(true)
    const pixels = decodeBlurhash(hash, 4, 3)
    expect(pixels).toHaveLength(4 * 3 * 4)
    for (let i = 0; i < pixels.length; i += 4) expect([...pixels.slice(i, i + 4)]).toEqual([255, 128, 0, 255])
  })

  it('matches the reference implementation', () => {
    for (const hash of ['LEHV6nWB2yk8pyo0adR*.7kCMdnj', 'LGF5]+Yk^6#M@-5c,1J5@[or[Q6.', 'L6PZfSi_.AyE_3t7t7R**0o#DgR4', 'KJG8_@Dgx]_4V?xuyE%NRj']) {
      expect(isValidBlurhash(hash)).toBe(true)
      expect(decodeBlurhash(hash, 32, 24)).toEqual(referenceDecode(hash, 32, 24))
    }
  })

  it('round-trips an encoded picture', () => {
    const w = 16
    const h = 12
    const source = new Uint8ClampedArray(w * h * 4)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const p = (y * w + x) * 4
        source.set([x * 16, y * 20, 120, 255], p)
      }
    const hash = referenceEncode(source, w, h, 4, 3)
    expect(decodeBlurhash(hash, 8, 8)).toEqual(referenceDecode(hash, 8, 8))
  })

  it('rejects invalid hashes', () => {
    expect(isValidBlurhash('')).toBe(false)
    expect(isValidBlurhash(null)).toBe(false)
    expect(isValidBlurhash('LEHV6nWB2yk8pyo0adR*.7kCMdn')).toBe(false) // one short
    expect(isValidBlurhash('LEHV6nWB2yk8pyo0adR*.7kCMd"j')).toBe(false) // bad character
    expect(() => decodeBlurhash('nope', 4, 4)).toThrow()
  })
})
