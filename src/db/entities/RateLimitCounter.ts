import { Entity, Index, PrimaryKey, Property } from "@mikro-orm/core";

/** A fixed-window request counter, shared by every instance through the database. */
@Entity({ tableName: "rate_limit_counters" })
// Maintenance deletes counters of past windows, oldest first.
@Index({ properties: ["windowStart"] })
export class RateLimitCounter {
  @PrimaryKey({ type: "string", length: 128 })
  key!: string;

  /** Start of the current window, epoch milliseconds. */
  @Property({ type: "bigint" })
  windowStart!: string;

  @Property({ type: "integer" })
  hits!: number;
}
