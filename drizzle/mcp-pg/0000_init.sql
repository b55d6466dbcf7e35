CREATE TABLE "mcp_api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"salt" text NOT NULL,
	"hash" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint,
	"revoked_at" bigint
);
--> statement-breakpoint
CREATE TABLE "mcp_audit_anchors" (
	"chain" text PRIMARY KEY NOT NULL,
	"log" text NOT NULL,
	"seq" bigint NOT NULL,
	"mac" text NOT NULL,
	"file" text NOT NULL,
	"at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mcp_secrets" (
	"name" text PRIMARY KEY NOT NULL,
	"envelope" jsonb NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "mcp_audit_anchors_log_idx" ON "mcp_audit_anchors" USING btree ("log","at");