import { ref, watch } from 'vue';
import type { Ref } from 'vue';

/** The items whose key holds every word of `search` (in any order, case ignored). */
export function filterKeys<T extends { key: string }>(items: readonly T[], search: string): T[] {
  const words = search
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== '');
  if (words.length === 0) return [...items];
  return items.filter((item) => words.every((w) => item.key.toLowerCase().includes(w)));
}

/**
 * A search box whose text goes into the URL 200 ms after the last keystroke: `draft` is the
 * box's model, `onInput` its input handler, `apply` receives the trimmed text (undefined when
 * empty), and a URL change (back, a link) puts its value back in the box.
 */
export function useDebouncedSearch(
  current: () => string,
  apply: (value: string | undefined) => void,
): { draft: Ref<string>; onInput: () => void } {
  const draft = ref(current());
  watch(current, (value) => {
    draft.value = value;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    draft,
    onInput() {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const q = draft.value.trim();
        apply(q === '' ? undefined : q);
      }, 200);
    },
  };
}
