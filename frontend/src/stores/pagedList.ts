import { computed, reactive } from 'vue'
import type { Page } from '@/api/types'

export interface PagedListState<T> {
  items: T[]
  nextCursor: string | null
  loading: boolean
  loaded: boolean
  error: unknown
}

/**
 * A cursor-paginated list: `reload()` fetches the first page, `loadMore()`
 * the next one using `nextCursor`. Answers to outdated requests (the filters
 * changed meanwhile) are dropped.
 */
export function createPagedList<T, Q extends object>(fetchPage: (query: Q & { cursor?: string; limit?: number }) => Promise<Page<T>>, query: () => Q, pageSize = 20) {
  const state = reactive({
    items: [],
    nextCursor: null,
    loading: false,
    loaded: false,
    error: null,
  }) as PagedListState<T>
  let generation = 0

  async function fetchInto(cursor: string | null, append: boolean): Promise<void> {
    const mine = ++generation
    state.loading = true
    state.error = null
    try {
      const q = { ...query(), limit: pageSize } as Q & { cursor?: string; limit?: number }
      if (cursor) q.cursor = cursor
      const page = await fetchPage(q)
      if (mine !== generation) return
      state.items = append ? [...state.items, ...page.items] : page.items
      state.nextCursor = page.nextCursor ?? null
      state.loaded = true
    } catch (err) {
      if (mine !== generation) return
      state.error = err
    } finally {
      if (mine === generation) state.loading = false
    }
  }

  return {
    state,
    hasMore: computed(() => state.nextCursor !== null),
    reload: () => fetchInto(null, false),
    loadMore: () => (state.nextCursor && !state.loading ? fetchInto(state.nextCursor, true) : Promise.resolve()),
    reset() {
      generation++
      state.items = []
      state.nextCursor = null
      state.loaded = false
      state.loading = false
      state.error = null
    },
  }
}
