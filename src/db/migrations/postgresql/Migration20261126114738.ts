import { Migration } from '@mikro-orm/migrations';

export class Migration20261126114738 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "totp_credentials" ("id" uuid not null, "user_id" uuid not null, "secret" varchar(128) not null, "confirmed_at" timestamptz null, "last_used_step" int null, "created_at" timestamptz not null, constraint "totp_credentials_pkey" primary key ("id"));`);
    this.addSql(`alter table "totp_credentials" add constraint "totp_credentials_user_id_unique" unique ("user_id");`);

    this.addSql(`create table "recovery_codes" ("id" uuid not null, "user_id" uuid not null, "code_hash" varchar(64) not null, "created_at" timestamptz not null, "used_at" timestamptz null, constraint "recovery_codes_pkey" primary key ("id"));`);
    this.addSql(`create index "recovery_codes_user_id_used_at_index" on "recovery_codes" ("user_id", "used_at");`);
    this.addSql(`alter table "recovery_codes" add constraint "recovery_codes_user_id_code_hash_unique" unique ("user_id", "code_hash");`);

    this.addSql(`create table "mfa_challenges" ("id" uuid not null, "user_id" uuid not null, "token_hash" varchar(64) not null, "first_amr" varchar(64) not null, "attempts" int not null default 0, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "mfa_challenges_pkey" primary key ("id"));`);
    this.addSql(`alter table "mfa_challenges" add constraint "mfa_challenges_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "mfa_challenges_used_at_index" on "mfa_challenges" ("used_at");`);
    this.addSql(`create index "mfa_challenges_expires_at_index" on "mfa_challenges" ("expires_at");`);

    this.addSql(`alter table "totp_credentials" add constraint "totp_credentials_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "recovery_codes" add constraint "recovery_codes_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "mfa_challenges" add constraint "mfa_challenges_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "totp_credentials" cascade;`);

    this.addSql(`drop table if exists "recovery_codes" cascade;`);

    this.addSql(`drop table if exists "mfa_challenges" cascade;`);
  }

}
