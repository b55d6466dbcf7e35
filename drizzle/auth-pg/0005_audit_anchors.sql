CREATE TABLE "audit_anchors" (
	"chain" text PRIMARY KEY NOT NULL,
	"log" text NOT NULL,
	"seq" bigint NOT NULL,
	"mac" text NOT NULL,
	"file" text NOT NULL,
	"at" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_anchors_log_idx" ON "audit_anchors" USING btree ("log","at");