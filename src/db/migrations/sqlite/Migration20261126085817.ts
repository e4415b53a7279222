import { Migration } from "@mikro-orm/migrations";

/**
 * Exact login throttling (BEHAVIOUR.md §10): `login_attempts` holds one place
 * per password check, taken before the check, in the order places are granted
 * (the id). Emails are HMAC pseudonyms under a key derived from SECRET_KEYS.
 *
 * `login_failures` goes without being carried over: it named emails by a bare
 * SHA-256, which cannot be turned into the keyed pseudonym, and it only ever
 * held the last LOGIN_LOCKOUT_SECONDS of failures, so at most that much lock
 * state is forgotten at the upgrade.
 */
export class Migration20261126085817 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      "create table `login_attempts` (`id` integer not null primary key autoincrement, `email_key` text not null, `ip` text not null, `attempted_at` datetime not null);",
    );
    this.addSql("create index `login_attempts_attempted_at_index` on `login_attempts` (`attempted_at`);");
    this.addSql(
      "create index `login_attempts_email_key_attempted_at_index` on `login_attempts` (`email_key`, `attempted_at`);",
    );
    this.addSql(
      "create index `login_attempts_email_key_ip_attempted_at_index` on `login_attempts` (`email_key`, `ip`, `attempted_at`);",
    );
    this.addSql("drop table if exists `login_failures`;");
  }
}
