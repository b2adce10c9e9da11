// What the page knows, shared by its modules: the main chart's view and the companions'.

/** What one drawn chart keeps: its graph and its elements. */
export function chartView() {
  return {
    layout: null,
    graph: null,
    /** state id → <g> */
    stateEls: new Map(),
    /** graph edge id → [<g>] (drawn edges and targetless rows) */
    edgeEls: new Map(),
    /** path "session.connecting" → state id */
    byPath: new Map(),
    /** state id → node */
    nodes: new Map(),
  };
}

/** Companion charts drawn below the main one (the overlay manager's, beside the connection's). */
export const companions = [];

export const view = {
  ...chartView(),
  sessionId: null,
  sessionActive: false,
  snapshot: null,
  /** sessionId → actor id, to name event sources */
  actorNames: new Map(),
  /** { sessionId, at }: when the main actor last entered a state, for the backoff countdown */
  enteredState: null,
  lastEdges: [],
  lastTransitionAt: null,
  controlLog: new Map(),
  eventCount: 0,
  ws: null,
  reconnectDelay: 500,
};
