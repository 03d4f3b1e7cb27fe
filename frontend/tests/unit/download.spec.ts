import { describe, expect, it } from 'vitest'
import { downloadName } from '@/lib/download'

describe('downloadName', () => {
  it('names the file after the title with the detected format', () => {
    expect(downloadName({ title: 'A red fox in snow', metadata: { format: 'png' } })).toBe('A red fox in snow.png')
    expect(downloadName({ title: 'Renard «Été»', metadata: { format: 'jpeg' } })).toBe('Renard «Été».jpg')
  })

  it('never lets a path, a control character or a leading dot through', () => {
    expect(downloadName({ title: '../../etc/passwd', metadata: { format: 'webp' } })).toBe('-..-etc-passwd.webp')
    expect(downloadName({ title: 'a\r\nb\u202e"c', metadata: { format: 'gif' } })).toBe('a-b-c.gif')
    expect(downloadName({ title: '...hidden', metadata: { format: 'png' } })).toBe('hidden.png')
  })

  it('falls back to "image" and leaves out an unknown extension', () => {
    expect(downloadName({ title: '///', metadata: { format: 'png' } })).toBe('image.png')
    expect(downloadName({ title: 'x', metadata: {} })).toBe('x')
  })
})
