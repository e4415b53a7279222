import { Migration } from '@mikro-orm/migrations';

/**
 * Maintenance (BEHAVIOUR.md §11) deletes rate-limit counters of past windows,
 * oldest first, in small batches: each batch is a range scan of this index,
 * not of the table. (Login attempts got theirs with their table.)
 */
export class Migration20261126090517 extends Migration {

  override async up(): Promise<void> {

    this.addSql(`create index "rate_limit_counters_window_start_index" on "rate_limit_counters" ("window_start");`);
  }

  override async down(): Promise<void> {

    this.addSql(`drop index "rate_limit_counters_window_start_index";`);
  }

}
