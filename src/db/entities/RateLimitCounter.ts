import { Entity, Index, PrimaryKey, Property } from "@mikro-orm/core";

/** A fixed-window request counter, shared by every instance through the database. */
@Entity({ tableName: "rate_limit_counters" })
// Maintenance deletes counters of windows that are over, oldest first.
@Index({ properties: ["windowEnd"] })
export class RateLimitCounter {
  @PrimaryKey({ type: "string", length: 128 })
  key!: string;

  /**
   * End of the current window, epoch milliseconds. The end, not the start:
   * limiters with windows of different lengths (a minute per address, an
   * hour per email) share the table, and a counter is dead once its end has
   * passed, whatever its length.
   */
  @Property({ type: "bigint" })
  windowEnd!: string;

  @Property({ type: "integer" })
  hits!: number;
}
