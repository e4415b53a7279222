import { Migration } from "@mikro-orm/migrations";

/**
 * Session core v2: the refresh state moves into a few columns of `sessions`
 * and `refresh_tokens` goes (BEHAVIOUR.md §6.1). Every session is carried over
 * (§6.8): it gets a random refresh secret (gen_random_uuid draws from the
 * server's strong random source), and its current version 1 token (the
 * newest unused one) is remembered by its hash as generation 0, so it rotates
 * once more and counts as an earlier token afterwards.
 */
export class Migration20261126081009 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "sessions" add column "refresh_generation" int not null default 0, add column "refresh_rotated_at" timestamptz null, add column "refresh_retired_below" int not null default 0, add column "refresh_secret" varchar(64) null, add column "refresh_key_id" varchar(8) null, add column "legacy_token_hash" varchar(64) null;`,
    );
    this.addSql(
      `update "sessions" s set
         "refresh_secret" = encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'),
         "legacy_token_hash" = (select t."token_hash" from "refresh_tokens" t where t."session_id" = s."id" and t."used_at" is null order by t."created_at" desc limit 1);`,
    );
    this.addSql(`alter table "sessions" alter column "refresh_secret" set not null;`);
    this.addSql(`drop table "refresh_tokens";`);
    this.addSql(`create index "sessions_legacy_token_hash_index" on "sessions" ("legacy_token_hash");`);
    this.addSql(`create index "sessions_last_used_at_index" on "sessions" ("last_used_at");`);
    this.addSql(`create index "sessions_expires_at_index" on "sessions" ("expires_at");`);
    this.addSql(`create index "sessions_ended_at_index" on "sessions" ("ended_at");`);
  }
}
