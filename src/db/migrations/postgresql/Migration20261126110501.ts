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
export class Migration20261126110501 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "email_tokens" ("id" uuid not null, "user_id" uuid not null, "purpose" varchar(16) not null, "email" varchar(254) not null, "token_hash" varchar(64) not null, "code_hash" varchar(64) null, "code_key_id" varchar(8) null, "code_attempts" int not null default 0, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "email_tokens_pkey" primary key ("id"));`);
    this.addSql(`alter table "email_tokens" add constraint "email_tokens_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "email_tokens_expires_at_index" on "email_tokens" ("expires_at");`);
    this.addSql(`alter table "email_tokens" add constraint "email_tokens_user_id_purpose_unique" unique ("user_id", "purpose");`);

    this.addSql(`alter table "email_tokens" add constraint "email_tokens_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "users" add column "email_verified_at" timestamptz null;`);

    this.addSql(`alter table "sessions" add column "authenticated_at" timestamptz null, add column "amr" varchar(64) null;`);
    this.addSql(`drop index "rate_limit_counters_window_start_index";`);
    this.addSql(`alter table "rate_limit_counters" rename column "window_start" to "window_end";`);
    this.addSql(`update "rate_limit_counters" set "window_end" = "window_end" + 60000;`);
    this.addSql(`create index "rate_limit_counters_window_end_index" on "rate_limit_counters" ("window_end");`);
    this.addSql(`update "sessions" set "authenticated_at" = "created_at", "amr" = 'pwd';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "email_tokens" cascade;`);

    this.addSql(`alter table "sessions" drop column "authenticated_at", drop column "amr";`);

    this.addSql(`drop index "rate_limit_counters_window_end_index";`);
    this.addSql(`update "rate_limit_counters" set "window_end" = "window_end" - 60000;`);
    this.addSql(`alter table "rate_limit_counters" rename column "window_end" to "window_start";`);
    this.addSql(`create index "rate_limit_counters_window_start_index" on "rate_limit_counters" ("window_start");`);

    this.addSql(`alter table "users" drop column "email_verified_at";`);
  }

}
