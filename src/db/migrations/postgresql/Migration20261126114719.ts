import { Migration } from '@mikro-orm/migrations';

export class Migration20261126114719 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "passkeys" ("id" uuid not null, "user_id" uuid not null, "credential_id" varchar(1400) not null, "public_key" text not null, "sign_count" bigint not null, "transports" varchar(200) null, "device_type" varchar(16) not null, "backed_up" boolean not null, "name" varchar(64) not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, constraint "passkeys_pkey" primary key ("id"));`);
    this.addSql(`alter table "passkeys" add constraint "passkeys_credential_id_unique" unique ("credential_id");`);
    this.addSql(`create index "passkeys_user_id_created_at_index" on "passkeys" ("user_id", "created_at");`);

    this.addSql(`create table "webauthn_challenges" ("id" uuid not null, "challenge_hash" varchar(64) not null, "purpose" varchar(16) not null, "user_id" uuid null, "binding" varchar(128) null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "webauthn_challenges_pkey" primary key ("id"));`);
    this.addSql(`create index "webauthn_challenges_expires_at_index" on "webauthn_challenges" ("expires_at");`);

    this.addSql(`alter table "passkeys" add constraint "passkeys_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);

    this.addSql(`alter table "webauthn_challenges" add constraint "webauthn_challenges_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "passkeys" cascade;`);

    this.addSql(`drop table if exists "webauthn_challenges" cascade;`);
  }

}
