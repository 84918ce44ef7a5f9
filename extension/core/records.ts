// Records keyed by user text (lane names, change ids, approval ids typed by an
// operator). A plain object lookup `lanes["constructor"]` finds Object's own
// constructor, and `lanes["__proto__"] = lane` replaces the prototype instead of
// adding a key. These helpers only ever see own properties, so a lane or change
// with any name behaves like any other, in memory and after a JSON or
// structuredClone round trip (both keep an own `__proto__` key).

/** The value stored under `key`, never one inherited from Object.prototype. */
export function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Stores `value` under `key` as an own property, `__proto__` included. */
export function put<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Removes the own property `key` (a no-op for inherited names). */
export function drop(record: Record<string, unknown>, key: string): void {
  if (Object.hasOwn(record, key)) Reflect.deleteProperty(record, key);
}

/** A record built from entries with `put`, so no key is lost or inherited. */
export function recordOf<T>(entries: Iterable<readonly [string, T]>): Record<string, T> {
  const record: Record<string, T> = {};
  for (const [key, value] of entries) put(record, key, value);
  return record;
}
