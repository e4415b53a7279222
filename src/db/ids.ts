const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else is absent, and must not reach a uuid column as a query error. */
export const isUuid = (id: string): boolean => UUID.test(id);
