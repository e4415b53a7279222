import { Migration } from "@mikro-orm/migrations";

/**
 * Session core v2: the refresh state moves into a few columns of `sessions`
 * and `refresh_tokens` goes (BEHAVIOUR.md §6.1). Every session is carried over
 * (§6.8): it gets a random refresh secret, and its current version 1 token
 * (the newest unused one) is remembered by its hash as generation 0, so it
 * rotates once more and counts as an earlier token afterwards.
 *
 * SQLite cannot add a NOT NULL column without a default, so the table is
 * rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter).
 */
export class Migration20261126081008 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      "create table `sessions_v2` (`id` text not null, `user_id` text not null, `created_at` datetime not null, `last_used_at` datetime not null, `expires_at` datetime not null, `ended_at` datetime null, `end_reason` text null, `user_agent` text null, `ip` text null, `refresh_generation` integer not null default 0, `refresh_rotated_at` datetime null, `refresh_retired_below` integer not null default 0, `refresh_secret` text not null, `refresh_key_id` text null, `legacy_token_hash` text null, constraint `sessions_user_id_foreign` foreign key(`user_id`) references `users`(`id`) on delete cascade on update cascade, primary key (`id`));",
    );
    this.addSql(
      `insert into \`sessions_v2\` (\`id\`, \`user_id\`, \`created_at\`, \`last_used_at\`, \`expires_at\`, \`ended_at\`, \`end_reason\`, \`user_agent\`, \`ip\`, \`refresh_generation\`, \`refresh_rotated_at\`, \`refresh_retired_below\`, \`refresh_secret\`, \`refresh_key_id\`, \`legacy_token_hash\`)
       select s.\`id\`, s.\`user_id\`, s.\`created_at\`, s.\`last_used_at\`, s.\`expires_at\`, s.\`ended_at\`, s.\`end_reason\`, s.\`user_agent\`, s.\`ip\`, 0, null, 0, lower(hex(randomblob(32))), null,
         (select t.\`token_hash\` from \`refresh_tokens\` t where t.\`session_id\` = s.\`id\` and t.\`used_at\` is null order by t.\`created_at\` desc limit 1)
       from \`sessions\` s;`,
    );
    this.addSql("drop table `refresh_tokens`;");
    this.addSql("drop table `sessions`;");
    this.addSql("alter table `sessions_v2` rename to `sessions`;");
    this.addSql("create index `sessions_user_id_index` on `sessions` (`user_id`);");
    this.addSql("create index `sessions_user_id_created_at_index` on `sessions` (`user_id`, `created_at`);");
    this.addSql("create index `sessions_legacy_token_hash_index` on `sessions` (`legacy_token_hash`);");
    this.addSql("create index `sessions_last_used_at_index` on `sessions` (`last_used_at`);");
    this.addSql("create index `sessions_expires_at_index` on `sessions` (`expires_at`);");
    this.addSql("create index `sessions_ended_at_index` on `sessions` (`ended_at`);");
  }
}
