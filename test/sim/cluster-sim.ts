/**
 * ClusterSim: many membership state machines in one process, on a SimNetwork, driven by a fake
 * clock of ticks, with every source of chance drawn from one seed (after tigerbeetle's VOPR).
 *
 *   tick t:  1. packets due at t are delivered, in random order, each one a `step` of its target
 *            2. every live node gets {kind: "tick"}, in random order
 *            after every single step, InvariantChecker.afterStep runs on the stepping node
 *
 * Crash: the node's state is dropped; packets to it vanish. Restart: a fresh state with the same
 * id and a higher incarnation (the shell would pass its boot time). A failure throws SimFailure
 * with the seed, the network, every node's view and the tail of the trace; the same seed replays
 * the same run exactly (`SIM_SEED=<seed> npx vitest run test/sim`).
 */
import {
  createMembership, sortNodeIdsDesc, step, view, type MembershipConfig, type MembershipEffect,
  type MembershipEvent, type MembershipState, type NodeId,
} from "../../server/core/membership.js";
import { seededRng, shuffle, type Rng } from "../../server/core/rng.js";
import { InvariantChecker, type CheckedNode } from "./invariants.js";
import { SimNetwork } from "./network.js";

export type MembershipTuning = Partial<Omit<MembershipConfig, "nodeId" | "clusterName" | "incarnation">>;

export interface SimOptions {
  readonly seed: number;
  readonly membership?: MembershipTuning;
  readonly clusterName?: string;
  /** Trace lines kept for the failure report. @default 400 */
  readonly traceMax?: number;
  /** Also write every trace line to stdout (SIM_VERBOSE=1). */
  readonly verbose?: boolean;
}

export interface SimNode extends CheckedNode {
  readonly id: NodeId;
  alive: boolean;
  state: MembershipState;
  rng: Rng;
  incarnation: number;
  bootTick: number;
  installed: { key: string; succession: readonly NodeId[]; generation: number } | null;
  /** Installs during this incarnation. */
  installs: number;
}

export class SimFailure extends Error {
  constructor(readonly invariant: string, readonly seed: number, message: string) {
    super(message);
    this.name = "SimFailure";
  }
}

export class ClusterSim {
  now = 0;
  readonly rng: Rng;
  readonly net: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  readonly checker: InvariantChecker;
  /** Install effects anywhere, and the tick of the latest. */
  installs = 0;
  lastInstallTick = 0;
  private readonly trace: string[] = [];
  private readonly traceMax: number;
  private bootCount = 0;

  constructor(readonly options: SimOptions) {
    this.rng = seededRng(options.seed);
    this.net = new SimNetwork(this.rng.fork());
    this.traceMax = options.traceMax ?? 400;
    this.checker = new InvariantChecker((invariant, detail) => this.fail(invariant, detail));
  }

  get seed(): number {
    return this.options.seed;
  }

  // ── nodes ──────────────────────────────────────────────────────────────────────────────────

  addNode(id: NodeId): SimNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists`);
    const node = this.boot(id);
    this.nodes.set(id, node);
    return node;
  }

  private boot(id: NodeId): SimNode {
    this.bootCount++;
    const incarnation = this.bootCount;
    const state = createMembership({
      ...this.options.membership,
      nodeId: id,
      clusterName: this.options.clusterName ?? "sim",
      incarnation,
    });
    this.note(`${id} boot incarnation ${incarnation}`);
    return { id, alive: true, state, rng: this.rng.fork(), incarnation, bootTick: this.now, installed: null, installs: 0 };
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    if (!node.alive) return;
    node.alive = false;
    this.note(`${id} CRASH`);
  }

  /** A fresh state with the same id and a higher incarnation. */
  restart(id: NodeId): void {
    this.node(id);
    this.nodes.set(id, this.boot(id));
    this.note(`${id} RESTART`);
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive);
  }

  // ── running ────────────────────────────────────────────────────────────────────────────────

  runTick(): void {
    this.now++;
    for (const packet of this.net.deliver(this.now)) {
      const node = this.nodes.get(packet.to);
      if (node === undefined || !node.alive) continue;
      this.stepNode(node, { kind: packet.channel, from: packet.from, message: packet.message });
    }
    for (const node of shuffle(this.rng, this.live())) this.stepNode(node, { kind: "tick" });
  }

  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.runTick();
  }

  private stepNode(node: SimNode, event: MembershipEvent): void {
    const before = node.installed;
    const out = step(node.state, event, node.rng);
    node.state = out.state;
    for (const effect of out.effects) this.carry(node, effect);
    this.checker.afterStep(this.now, node, before, out.effects);
  }

  private carry(node: SimNode, effect: MembershipEffect): void {
    switch (effect.kind) {
      case "broadcast-heartbeat": {
        const message = SimNetwork.wire(effect.message);
        for (const to of this.nodes.keys()) if (to !== node.id) this.net.send(node.id, to, "heartbeat", message, this.now);
        return;
      }
      case "send":
        this.net.send(node.id, effect.to, "message", SimNetwork.wire(effect.message), this.now);
        return;
      case "install":
        node.installed = { key: effect.clusterKey, succession: effect.succession, generation: effect.generation };
        node.installs++;
        this.installs++;
        this.lastInstallTick = this.now;
        this.note(`${node.id} install ${effect.clusterKey} gen ${effect.generation} [${effect.succession.join(" ")}]`);
        return;
      case "log":
        if (effect.level !== "debug") this.note(`${node.id} ${effect.event} ${JSON.stringify(effect.fields)}`);
        return;
    }
  }

  // ── topology helpers ───────────────────────────────────────────────────────────────────────

  /**
   * The groups that must each end as one cluster, computed naively from the true topology (the
   * simulator's, not any node's view) with no loss: over the live nodes and the links that pass
   * both ways, the highest unassigned node takes, in descending id order, every unassigned lower
   * node linked to all it took so far; repeat. On a clean partition these are the partition's
   * groups; with one-way cuts they are the cliques the protocol promises (docs/membership.md).
   */
  components(): NodeId[][] {
    const edge = (a: NodeId, b: NodeId) => this.net.passes(a, b) && this.net.passes(b, a);
    const left = new Set(this.live().map((n) => n.id));
    const groups: NodeId[][] = [];
    for (const top of sortNodeIdsDesc(left)) {
      if (!left.has(top)) continue;
      left.delete(top);
      const group = [top];
      for (const c of sortNodeIdsDesc(left)) {
        if (group.every((m) => edge(c, m))) {
          group.push(c);
          left.delete(c);
        }
      }
      groups.push(group);
    }
    return groups;
  }

  /** Why the live nodes are not (yet) one stable cluster per group; null when they are. */
  convergenceGap(groups: readonly (readonly NodeId[])[] = this.components()): string | null {
    const covered = new Set(groups.flat());
    for (const node of this.live()) if (!covered.has(node.id)) return `${node.id} is in no expected group`;
    for (const group of groups) {
      const expected = sortNodeIdsDesc(group).join(" ");
      let key: string | null = null;
      let newestBoot = 0;
      for (const id of group) {
        const node = this.node(id);
        if (!node.alive) return `${id} is not alive`;
        const v = view(node.state);
        if (v.clusterKey === null) return `${id} has no cluster`;
        if (v.succession.join(" ") !== expected) return `${id} has [${v.succession.join(" ")}], expected [${expected}]`;
        if (key === null) key = v.clusterKey;
        else if (v.clusterKey !== key) return `${id} has key ${v.clusterKey}, ${group[0]} has ${key}`;
        if (!v.stable) return `${id} is not stable`;
        newestBoot = Math.max(newestBoot, node.bootTick);
      }
      // A restarted node must get a cluster formed after its restart, not its old one back.
      const record = this.checker.keys.get(key!);
      if (record !== undefined && record.firstTick < newestBoot) {
        return `cluster ${key} of [${expected}] predates the restart of one of its members (tick ${newestBoot})`;
      }
    }
    return null;
  }

  /**
   * Runs until converged on `groups` (default: the components), at most `ticksMax` ticks; returns
   * ticks taken. Convergence is not looked for in the first `quietTicks`: right after faults stop,
   * packets still in flight and silence that began before (a peer lost up to missedMax ticks
   * later) can legitimately still change the cluster, so a converged look before then means nothing.
   */
  awaitConverged(ticksMax: number, groups?: readonly (readonly NodeId[])[], quietTicks = 0): number {
    const expected = groups ?? this.components();
    const start = this.now;
    this.run(Math.min(quietTicks, ticksMax));
    let gap = this.convergenceGap(expected);
    while (gap !== null) {
      if (this.now - start >= ticksMax) {
        this.fail("liveness", `not converged on ${expected.map((g) => `{${g.join(" ")}}`).join(" ")} within ${ticksMax} ticks: ${gap}`);
      }
      this.runTick();
      gap = this.convergenceGap(expected);
    }
    return this.now - start;
  }

  /** Runs `ticks` ticks in which the cluster must stay converged and nothing may install. */
  hold(ticks: number, groups?: readonly (readonly NodeId[])[]): void {
    const expected = groups ?? this.components();
    const installs = this.installs;
    for (let i = 0; i < ticks; i++) {
      this.runTick();
      const gap = this.convergenceGap(expected);
      if (gap !== null) this.fail("stability", `left the converged state after ${i + 1} ticks: ${gap}`);
      if (this.installs !== installs) this.fail("stability", `an install happened ${i + 1} ticks after convergence`);
    }
  }

  // ── reporting ──────────────────────────────────────────────────────────────────────────────

  note(line: string): void {
    const text = `t=${String(this.now).padStart(4, "0")} ${line}`;
    if (this.options.verbose) console.log(text);
    this.trace.push(text);
    if (this.trace.length > this.traceMax) this.trace.splice(0, this.trace.length - this.traceMax);
  }

  describeNodes(): string {
    return [...this.nodes.values()].map((n) => {
      if (!n.alive) return `  ${n.id.padStart(16)} DOWN`;
      const v = view(n.state);
      return `  ${n.id.padStart(16)} inc ${n.incarnation} ${v.role.padEnd(9)} principal ${v.principal} key ${v.clusterKey} gen ${v.generation} ` +
        `[${v.succession.join(" ")}] stable=${v.stable} hears [${v.peers.join(" ")}] lead [${v.lead.join(" ")}]`;
    }).join("\n");
  }

  fail(invariant: string, detail: string, traceTail = 80): never {
    const message = [
      `membership simulation: invariant '${invariant}' broken: ${detail}`,
      `seed ${this.seed}; replay: SIM_SEED=${this.seed} npx vitest run test/sim`,
      `tick ${this.now}; network ${this.net.describe()}`,
      `nodes:`,
      this.describeNodes(),
      `trace (last ${traceTail} lines):`,
      ...this.trace.slice(-traceTail),
    ].join("\n");
    throw new SimFailure(invariant, this.seed, message);
  }
}
