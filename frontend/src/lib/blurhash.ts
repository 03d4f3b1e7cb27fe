/**
 * BlurHash decoder (https://blurha.sh): turns the short string kept in
 * `metadata.placeholder` into RGBA pixels for a tiny canvas.
 */
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~'

export function decode83(str: string): number {
  let value = 0
  for (const char of str) {
    const digit = DIGITS.indexOf(char)
    if (digit < 0) throw new Error(`Invalid BlurHash character: ${char}`)
    value = value * 83 + digit
  }
  return value
}

function sRGBToLinear(value: number): number {
  const v = value / 255
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4)
}

function linearToSRGB(value: number): number {
  const v = Math.max(0, Math.min(1, value))
  return Math.floor((v <= 0.0031308 ? v * 12.92 : 1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255 + 0.5)
}

const signPow = (value: number, exp: number) => Math.sign(value) * Math.pow(Math.abs(value), exp)

export function isValidBlurhash(hash: unknown): hash is string {
  if (typeof hash !== 'string' || hash.length < 6) return false
  try {
    const size = decode83(hash[0])
    const numX = (size % 9) + 1
    const numY = Math.floor(size / 9) + 1
    if (hash.length !== 4 + 2 * numX * numY) return false
    decode83(hash)
    return true
  } catch {
    return false
  }
}

/** Decode to width*height RGBA bytes. Throws on an invalid hash. */
export function decodeBlurhash(hash: string, width: number, height: number, punch = 1): Uint8ClampedArray {
  if (!isValidBlurhash(hash)) throw new Error('Invalid BlurHash')
  const size = decode83(hash[0])
  const numX = (size % 9) + 1
  const numY = Math.floor(size / 9) + 1
  const maxValue = ((decode83(hash[1]) + 1) / 166) * punch

  const colors: [number, number, number][] = new Array(numX * numY)
  const dc = decode83(hash.substring(2, 6))
  colors[0] = [sRGBToLinear(dc >> 16), sRGBToLinear((dc >> 8) & 255), sRGBToLinear(dc & 255)]
  for (let i = 1; i < colors.length; i++) {
    const ac = decode83(hash.substring(4 + i * 2, 6 + i * 2))
    const r = Math.floor(ac / (19 * 19))
    const g = Math.floor(ac / 19) % 19
    const b = ac % 19
    colors[i] = [signPow((r - 9) / 9, 2) * maxValue, signPow((g - 9) / 9, 2) * maxValue, signPow((b - 9) / 9, 2) * maxValue]
  }

  const pixels = new Uint8ClampedArray(width * height * 4)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0
      let g = 0
      let b = 0
      for (let j = 0; j < numY; j++) {
        const basisY = Math.cos((Math.PI * y * j) / height)
        for (let i = 0; i < numX; i++) {
          const basis = Math.cos((Math.PI * x * i) / width) * basisY
          const color = colors[i + j * numX]
          r += color[0] * basis
          g += color[1] * basis
          b += color[2] * basis
        }
      }
      const p = 4 * (x + y * width)
      pixels[p] = linearToSRGB(r)
      pixels[p + 1] = linearToSRGB(g)
      pixels[p + 2] = linearToSRGB(b)
      pixels[p + 3] = 255
    }
  }
  return pixels
}
