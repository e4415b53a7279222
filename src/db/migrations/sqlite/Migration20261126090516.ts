import { Migration } from '@mikro-orm/migrations';

/**
 * Maintenance (BEHAVIOUR.md §11) deletes login failures that left the
 * throttle's window and rate-limit counters of past windows, oldest first, in
 * small batches: each batch is a range scan of these indexes, not of the table.
 */
export class Migration20261126090516 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create index \`login_failures_failed_at_index\` on \`login_failures\` (\`failed_at\`);`);

    this.addSql(`create index \`rate_limit_counters_window_start_index\` on \`rate_limit_counters\` (\`window_start\`);`);
  }

}
