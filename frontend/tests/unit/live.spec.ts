import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Image } from '@/api/types'
import { configureLive, liveState, onLiveMessage, resetLive, setLiveToken } from '@/lib/live'
import { followImage } from '@/lib/poll'
import { waitForPurchase } from '@/lib/purchasePoll'
import type { Purchase } from '@/api/types'
import { makeImage } from './helpers'

class FakeSocket {
  static made: FakeSocket[] = []
  onopen: ((event: Event) => void) | null = null
  onclose: ((event: CloseEvent) => void) | null = null
  onerror: ((event: Event) => void) | null = null
  onmessage: ((event: MessageEvent) => void) | null = null
  readyState = 0
  closedWith: number | null = null
  constructor(public url: string) {
    FakeSocket.made.push(this)
  }
  open() {
    this.readyState = 1
    this.onopen?.(new Event('open'))
  }
  push(message: unknown) {
    this.onmessage?.(new MessageEvent('message', { data: typeof message === 'string' ? message : JSON.stringify(message) }))
  }
  drop() {
    this.readyState = 3
    this.onclose?.(new CloseEvent('close'))
  }
  close(code?: number) {
    this.closedWith = code ?? 1000
    this.readyState = 3
  }
}

function image(status: Image['status'], id = 'img-1'): Image {
  return makeImage({ id, status })
}

beforeEach(() => {
  FakeSocket.made = []
  resetLive()
  configureLive({ createSocket: (url) => new FakeSocket(url), backoff: () => 10, url: () => 'ws://app.test/ws' })
})

afterEach(() => {
  resetLive()
  vi.useRealTimers()
})

describe('the live socket', () => {
  it('opens with the session token, reports its state, and hands out messages', () => {
    const seen: unknown[] = []
    onLiveMessage((m) => seen.push(m))
    setLiveToken('tok en')
    const [socket] = FakeSocket.made
    expect(socket.url).toBe('ws://app.test/ws?token=tok%20en')
    expect(liveState.connected).toBe(false)
    socket.open()
    expect(liveState.connected).toBe(true)
    socket.push({ type: 'balance.changed', coins: 40 })
    socket.push('not json')
    socket.push({ no: 'type' })
    expect(seen).toEqual([{ type: 'balance.changed', coins: 40 }])
  })

  it('reconnects after a drop while signed in, and closes for good on sign-out', async () => {
    vi.useFakeTimers()
    setLiveToken('t1')
    FakeSocket.made[0].open()
    FakeSocket.made[0].drop()
    expect(liveState.connected).toBe(false)
    await vi.advanceTimersByTimeAsync(20)
    expect(FakeSocket.made).toHaveLength(2)
    FakeSocket.made[1].open()
    setLiveToken(null)
    expect(FakeSocket.made[1].closedWith).toBe(1000)
    expect(liveState.connected).toBe(false)
    await vi.advanceTimersByTimeAsync(100)
    expect(FakeSocket.made).toHaveLength(2)
  })

  it('a new token replaces the old socket', () => {
    setLiveToken('a')
    setLiveToken('b')
    expect(FakeSocket.made[0].closedWith).toBe(1000)
    expect(FakeSocket.made[1].url).toContain('token=b')
  })
})

describe('followImage', () => {
  it('makes no request while pushes arrive on an open socket', async () => {
    setLiveToken('t')
    const socket = FakeSocket.made[0]
    socket.open()
    const getImage = vi.fn(async () => image('PENDING'))
    const updates: string[] = []
    const done = followImage('img-1', (i) => updates.push(i.status), { getImage, delay: () => 5 })
    socket.push({ type: 'image.updated', image: image('PROCESSING', 'other') })
    socket.push({ type: 'image.updated', image: image('PROCESSING') })
    socket.push({ type: 'image.updated', image: image('COMPLETED') })
    expect((await done)?.status).toBe('COMPLETED')
    expect(updates).toEqual(['PROCESSING', 'COMPLETED'])
    expect(getImage).not.toHaveBeenCalled()
  })

  it('polls while there is no socket, and reads once when the socket comes back', async () => {
    setLiveToken('t')
    const socket = FakeSocket.made[0]
    const getImage = vi.fn(async () => image('PROCESSING'))
    const done = followImage('img-1', () => {}, { getImage, delay: () => 5 })
    await new Promise((r) => setTimeout(r, 20))
    expect(getImage.mock.calls.length).toBeGreaterThan(0)
    socket.open()
    const before = getImage.mock.calls.length
    await new Promise((r) => setTimeout(r, 20))
    expect(getImage.mock.calls.length).toBe(before + 1) // one read on connect, then it waits for pushes
    socket.push({ type: 'image.updated', image: image('COMPLETED') })
    expect((await done)?.status).toBe('COMPLETED')
  })

  it('reads once after a quiet spell, in case a push was missed', async () => {
    setLiveToken('t')
    FakeSocket.made[0].open()
    const getImage = vi.fn(async () => image('COMPLETED'))
    const last = await followImage('img-1', () => {}, { getImage, quietMs: 10 })
    expect(last?.status).toBe('COMPLETED')
    expect(getImage).toHaveBeenCalledTimes(1)
  })

  it('stops when aborted', async () => {
    setLiveToken('t')
    FakeSocket.made[0].open()
    const controller = new AbortController()
    const done = followImage('img-1', () => {}, { getImage: vi.fn(), signal: controller.signal })
    controller.abort()
    await expect(done).rejects.toThrow()
  })
})

describe('waitForPurchase', () => {
  it('ends on the pushed purchase.updated, with no second read while the socket is up', async () => {
    setLiveToken('t')
    const socket = FakeSocket.made[0]
    socket.open()
    const pending = { id: 'p1', status: 'PENDING', coins: 500 } as unknown as Purchase
    const getPurchase = vi.fn(async () => pending)
    const seen: string[] = []
    const done = waitForPurchase('p1', (p) => seen.push(p.status), { getPurchase, delay: () => 5 })
    await new Promise((r) => setTimeout(r, 30))
    socket.push({ type: 'purchase.updated', purchase: { ...pending, id: 'another', status: 'PAID' } })
    socket.push({ type: 'purchase.updated', purchase: { ...pending, status: 'PAID' } })
    expect((await done)?.status).toBe('PAID')
    expect(getPurchase).toHaveBeenCalledTimes(1)
    expect(seen).toEqual(['PENDING', 'PAID'])
  })
})
