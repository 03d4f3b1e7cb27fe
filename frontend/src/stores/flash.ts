import { reactive } from 'vue'

/** One short success/info message, announced politely and shown as a toast. */
export const flash = reactive<{ message: string; id: number }>({ message: '', id: 0 })
let timer: ReturnType<typeof setTimeout> | undefined

export function showFlash(message: string, ms = 4000): void {
  flash.message = message
  flash.id++
  if (timer) clearTimeout(timer)
  timer = setTimeout(() => {
    flash.message = ''
  }, ms)
}

export function clearFlash(): void {
  flash.message = ''
}
