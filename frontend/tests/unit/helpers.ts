import { vi } from 'vitest'
import { mount, flushPromises } from '@vue/test-utils'
import { createMemoryHistory, createRouter, type RouteRecordRaw } from 'vue-router'
import type { Component } from 'vue'
import type { Image, User } from '@/api/types'

export interface Call {
  method: string
  url: string
  path: string
  query: URLSearchParams
  headers: Record<string, string>
  body: unknown
}

export type Handler = (call: Call) => Response | Promise<Response>

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  const contentType = status >= 400 ? 'application/problem+json' : 'application/json'
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': contentType, ...headers } })
}

/** Replace fetch with a router of handlers keyed "METHOD /path". Returns the recorded calls. */
export function mockFetch(routes: Record<string, Handler>) {
  const calls: Call[] = []
  const fn = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const parsed = new URL(url, 'http://app.test')
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((v, k) => (headers[k.toLowerCase()] = v))
    const call: Call = {
      method: (init.method ?? 'GET').toUpperCase(),
      url,
      path: parsed.pathname,
      query: parsed.searchParams,
      headers,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    }
    calls.push(call)
    const handler = routes[`${call.method} ${call.path}`]
    if (!handler) return json(404, { code: 'not_found', status: 404, title: 'Not Found', detail: `no mock for ${call.method} ${call.path}` })
    return handler(call)
  })
  vi.stubGlobal('fetch', fn)
  return { calls, fn }
}

export function makeUser(over: Partial<User> = {}): User {
  return {
    id: 'u1',
    email: 'ada@example.com',
    firstName: 'Ada',
    lastName: 'Lovelace',
    fullName: 'Ada Lovelace',
    roles: ['USER'],
    language: 'en',
    coins: 100,
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt: '2024-01-01T00:00:00Z',
    ...over,
  }
}

export function makeImage(over: Partial<Image> = {}): Image {
  return {
    id: 'img1',
    userId: 'u1',
    type: 'GENERATED',
    status: 'COMPLETED',
    title: 'A title',
    description: null,
    prompt: 'a prompt',
    storageKey: 'images/u1/1-a.png',
    storageUrl: 'http://storage.test/images/u1/1-a.png',
    thumbnailKey: 'thumbnails/u1/1-a.png',
    thumbnailUrl: 'http://storage.test/thumbnails/u1/1-a.png',
    metadata: { width: 512, height: 512, format: 'png', sizeBytes: 1234 },
    coinsUsed: 50,
    failureReason: null,
    createdAt: '2024-01-02T00:00:00Z',
    updatedAt: '2024-01-02T00:00:00Z',
    ...over,
  }
}

const Blank = { template: '<div />' }

export async function mountView(component: Component, path = '/', extraRoutes: RouteRecordRaw[] = []) {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', name: 'gallery', component: Blank },
      { path: '/signin', name: 'signin', component: Blank },
      { path: '/view/:id', name: 'image', component: Blank },
      { path: '/create', name: 'create', component: Blank },
      { path: '/upload', name: 'upload', component: Blank },
      { path: '/account', name: 'account', component: Blank },
      { path: '/test', name: 'test', component: Blank },
      ...extraRoutes,
    ],
  })
  await router.push(path)
  await router.isReady()
  const wrapper = mount(component, { global: { plugins: [router] }, attachTo: document.body })
  await flushPromises()
  return { wrapper, router }
}
