import { computed, reactive } from 'vue'

/**
 * A multi-selection over a list shown in order: click toggles one item, shift-click selects the range
 * from the last clicked item (the anchor) to this one, "select all" takes every item on the page.
 */
export function createSelection() {
  const state = reactive({ ids: new Set<string>(), anchor: null as string | null })

  function toggle(id: string, ordered: string[], shift = false): void {
    const anchorAt = state.anchor === null ? -1 : ordered.indexOf(state.anchor)
    const here = ordered.indexOf(id)
    if (shift && anchorAt >= 0 && here >= 0) {
      const [from, to] = anchorAt <= here ? [anchorAt, here] : [here, anchorAt]
      for (const other of ordered.slice(from, to + 1)) state.ids.add(other)
    } else if (state.ids.has(id)) {
      state.ids.delete(id)
    } else {
      state.ids.add(id)
    }
    state.anchor = id
  }

  return {
    state,
    count: computed(() => state.ids.size),
    has: (id: string) => state.ids.has(id),
    toggle,
    selectAll(ordered: string[]): void {
      for (const id of ordered) state.ids.add(id)
    },
    clear(): void {
      state.ids.clear()
      state.anchor = null
    },
    /** The selected ids in the order they are shown (ids no longer shown are dropped). */
    inOrder(ordered: string[]): string[] {
      return ordered.filter((id) => state.ids.has(id))
    },
    /** Forget ids that are not shown any more (deleted, filtered out). */
    keepOnly(ordered: string[]): void {
      const shown = new Set(ordered)
      for (const id of [...state.ids]) if (!shown.has(id)) state.ids.delete(id)
    },
  }
}

export type Selection = ReturnType<typeof createSelection>

/**
 * One action of the selection toolbar. The gallery lists its actions in an array: another action
 * (an export, say) is one more entry there, with its own `run`.
 */
export interface SelectionAction {
  id: string
  label: string
  danger?: boolean
  run: (imageIds: string[]) => void | Promise<void>
}
