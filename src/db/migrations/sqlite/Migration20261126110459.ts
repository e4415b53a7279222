import { Migration } from '@mikro-orm/migrations';

/**
 * Email (issue 14, BEHAVIOUR.md §7): emailed tokens (one live row per user
 * and purpose), `users.email_verified_at`, and what each session's access
 * tokens say of its sign-in (`auth_time`, `amr`, §5). Sessions carried over
 * signed in with a password when they were created.
 *
 * Rate-limit counters now keep their window's end, not its start: the
 * per-email mail limit counts per hour beside the per-address minute, and a
 * counter is dead once its end has passed, whatever its window's length.
 * Every existing counter is a one-minute window.
 */
export class Migration20261126110459 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`email_tokens\` (\`id\` text not null, \`user_id\` text not null, \`purpose\` text not null, \`email\` text not null, \`token_hash\` text not null, \`code_hash\` text null, \`code_key_id\` text null, \`code_attempts\` integer not null default 0, \`created_at\` datetime not null, \`expires_at\` datetime not null, \`used_at\` datetime null, constraint \`email_tokens_user_id_foreign\` foreign key(\`user_id\`) references \`users\`(\`id\`) on delete cascade on update cascade, primary key (\`id\`));`);
    this.addSql(`create index \`email_tokens_user_id_index\` on \`email_tokens\` (\`user_id\`);`);
    this.addSql(`create unique index \`email_tokens_token_hash_unique\` on \`email_tokens\` (\`token_hash\`);`);
    this.addSql(`create index \`email_tokens_expires_at_index\` on \`email_tokens\` (\`expires_at\`);`);
    this.addSql(`create unique index \`email_tokens_user_id_purpose_unique\` on \`email_tokens\` (\`user_id\`, \`purpose\`);`);

    this.addSql(`alter table \`users\` add column \`email_verified_at\` datetime null;`);

    this.addSql(`alter table \`sessions\` add column \`authenticated_at\` datetime null;`);
    this.addSql(`alter table \`sessions\` add column \`amr\` text null;`);
    this.addSql(`drop index \`rate_limit_counters_window_start_index\`;`);
    this.addSql(`alter table \`rate_limit_counters\` rename column \`window_start\` to \`window_end\`;`);
    this.addSql(`update \`rate_limit_counters\` set \`window_end\` = \`window_end\` + 60000;`);
    this.addSql(`create index \`rate_limit_counters_window_end_index\` on \`rate_limit_counters\` (\`window_end\`);`);
    this.addSql(`update \`sessions\` set \`authenticated_at\` = \`created_at\`, \`amr\` = 'pwd';`);
  }

}
