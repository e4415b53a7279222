import { Migration } from '@mikro-orm/migrations';

export class Migration20261126140248 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "oauth_flows" ("id" uuid not null, "state_hash" varchar(64) not null, "key_id" varchar(8) not null, "provider" varchar(32) not null, "redirect_uri" varchar(2048) not null, "user_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "oauth_flows_pkey" primary key ("id"));`);
    this.addSql(`alter table "oauth_flows" add constraint "oauth_flows_state_hash_unique" unique ("state_hash");`);
    this.addSql(`create index "oauth_flows_expires_at_index" on "oauth_flows" ("expires_at");`);

    this.addSql(`create table "linked_accounts" ("id" uuid not null, "user_id" uuid not null, "provider" varchar(32) not null, "subject" varchar(255) not null, "email" varchar(254) null, "email_verified" boolean not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, constraint "linked_accounts_pkey" primary key ("id"));`);
    this.addSql(`create index "linked_accounts_user_id_index" on "linked_accounts" ("user_id");`);
    this.addSql(`alter table "linked_accounts" add constraint "linked_accounts_provider_subject_unique" unique ("provider", "subject");`);

    this.addSql(`alter table "oauth_flows" add constraint "oauth_flows_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "linked_accounts" add constraint "linked_accounts_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "users" alter column "password_hash" type varchar(255) using ("password_hash"::varchar(255));`);
    this.addSql(`alter table "users" alter column "password_hash" drop not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "oauth_flows" cascade;`);

    this.addSql(`drop table if exists "linked_accounts" cascade;`);

    this.addSql(`alter table "users" alter column "password_hash" type varchar(255) using ("password_hash"::varchar(255));`);
    this.addSql(`alter table "users" alter column "password_hash" set not null;`);
  }

}
