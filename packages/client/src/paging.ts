/**
 * Iterates over every item of a paged search: fetches the first page, yields its items, and
 * follows `nextPageToken` until the server gives none. Pages are fetched lazily, so breaking out
 * of a `for await` loop stops fetching.
 *
 * @param fetchPage fetches the page for a token (`undefined` for the first page)
 * @param itemsOf picks the items out of a page
 * @example
 * for await (const run of paginate((pageToken) => client.runs.search({ experimentIds: ['1'], pageToken }), (p) => p.runs)) {
 *   console.log(run.info.runId);
 * }
 */
export async function* paginate<P extends { nextPageToken?: string | undefined }, T>(
  fetchPage: (pageToken: string | undefined) => Promise<P>,
  itemsOf: (page: P) => T[],
): AsyncGenerator<T, void, undefined> {
  let token: string | undefined;
  do {
    const page = await fetchPage(token);
    yield* itemsOf(page);
    token = page.nextPageToken === '' ? undefined : page.nextPageToken;
  } while (token !== undefined);
}

/** Collects an async iterable into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
