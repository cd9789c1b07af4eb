// Compiles only if the types generated from the OpenAPI document say what a client relies on.
import type { components, paths } from "./courier";

type Schemas = components["schemas"];

const created: Schemas["Destination"] = {} as Schemas["Destination"];
const id: string = created.id;
const status: "pending" | "connected" | "error" | "reauth_required" | "disabled" = created.status;

const create: Schemas["DestinationCreate"] = {
  name: "Orders",
  destination_type: "webhook",
  config: { url: "https://example.com/hooks" },
};

const route: Schemas["RouteInput"] = {
  name: "Orders",
  destination_id: id,
  event_types: ["order.*"],
  field_mapping: [{ source: "customer.email", target: "email" }],
};

const event: Schemas["EventInput"] = { type: "order.created", payload: { id: 1 } };

type ListDeliveries = paths["/api/v1/workspaces/{ws}/deliveries"]["get"];
const query: NonNullable<ListDeliveries["parameters"]["query"]> = { status: "failed", limit: 10 };
type Page = ListDeliveries["responses"][200]["content"]["application/json"];
const next: string | null = ({} as Page).next_cursor;
const attempts: number = ({} as Page).data[0].attempt_count;

const problem: Schemas["Error"] = { error: { code: "validation_error", message: "m", details: [] } };

// @ts-expect-error a route needs its event types
const incomplete: Schemas["RouteInput"] = { name: "x", destination_id: id };

export { create, route, event, query, next, attempts, problem, status, incomplete };
