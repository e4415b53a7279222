import { Migration } from "@mikro-orm/migrations";

export class Migration20261125025626 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "login_failures" ("id" uuid not null, "email_hash" varchar(64) not null, "ip" varchar(64) not null, "failed_at" timestamptz not null, constraint "login_failures_pkey" primary key ("id"));`,
    );
    this.addSql(
      `create index "login_failures_email_hash_ip_failed_at_index" on "login_failures" ("email_hash", "ip", "failed_at");`,
    );
    this.addSql(
      `create index "login_failures_email_hash_failed_at_index" on "login_failures" ("email_hash", "failed_at");`,
    );

    this.addSql(
      `create table "rate_limit_counters" ("key" varchar(128) not null, "window_start" bigint not null, "hits" int not null, constraint "rate_limit_counters_pkey" primary key ("key"));`,
    );

    this.addSql(
      `create table "users" ("id" uuid not null, "email" varchar(254) not null, "password_hash" varchar(255) not null, "roles" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "users_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "users" add constraint "users_email_unique" unique ("email");`);

    this.addSql(
      `create table "sessions" ("id" uuid not null, "user_id" uuid not null, "created_at" timestamptz not null, "last_used_at" timestamptz not null, "expires_at" timestamptz not null, "ended_at" timestamptz null, "end_reason" varchar(32) null, "user_agent" varchar(512) null, "ip" varchar(64) null, constraint "sessions_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "sessions_user_id_created_at_index" on "sessions" ("user_id", "created_at");`);

    this.addSql(
      `create table "refresh_tokens" ("id" uuid not null, "session_id" uuid not null, "token_hash" varchar(64) not null, "parent_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "refresh_tokens_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "refresh_tokens_session_id_index" on "refresh_tokens" ("session_id");`);
    this.addSql(
      `alter table "refresh_tokens" add constraint "refresh_tokens_token_hash_unique" unique ("token_hash");`,
    );
    this.addSql(`create index "refresh_tokens_parent_id_index" on "refresh_tokens" ("parent_id");`);

    this.addSql(
      `create table "notes" ("id" uuid not null, "owner_id" uuid not null, "title" varchar(200) not null, "body" text not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "notes_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "notes_owner_id_created_at_id_index" on "notes" ("owner_id", "created_at", "id");`);

    this.addSql(
      `alter table "sessions" add constraint "sessions_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "refresh_tokens" add constraint "refresh_tokens_session_id_foreign" foreign key ("session_id") references "sessions" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "notes" add constraint "notes_owner_id_foreign" foreign key ("owner_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }
}
