export {
  activeStateIds,
  type EdgeKind,
  type GraphEdge,
  type GraphNode,
  type MachineGraph,
  machineGraph,
  stateValueText,
} from './graph.js';
export { layoutMachine, type MachineLayout } from './layout.js';
export type { RelayMessage, TransitionEntry } from './relay.js';
export {
  type Control,
  startVisualizer,
  type Visualizer,
  type VisualizerOptions,
} from './server.js';
