/**
 * Scenario scripts for the membership simulator (after etcd-io/raft testdata/*.txt): a scripted
 * fault sequence reads better as a trace than as code. One command per line, `#` comments:
 *
 *   tune missedMax=10 quantumTicks=3   membership tuning (before `nodes`)
 *   delay 1 3                          packet delay range in ticks
 *   nodes 1 2 3                        boot nodes with these ids (hex)
 *   add 4                              boot one more node later
 *   run 50                             advance 50 ticks
 *   await 30 {1 2} {3}                 run until every group is one stable cluster of exactly its
 *                                      members, <= 30 ticks (default groups: the greedy cliques
 *                                      of the live nodes, ClusterSim.components)
 *   hold 30                            30 ticks with no change and no install
 *   crash 3 | restart 3 | bounce 3     bounce = crash and restart in the same tick
 *   partition {1 2} {3 4 5} | heal     heal clears partitions, cuts, link and global loss
 *   isolate 3                          partition {3} from everyone else
 *   cut 1>2 | uncut 1>2                one-way: 1's packets to 2 are dropped
 *   linkloss 1>2 0.9 | loss 0.2 | dup 0.1
 *   flap 3 every 6 for 120             isolate/un-isolate node 3 every 6 ticks, 120 ticks long
 *   mark                               remember the install count
 *   installs-at-most 4 on 1 2          installs on nodes 1 and 2 since `mark` are <= 4
 *
 * Safety invariants run after every step as in the VOPR; `await` and `hold` check liveness.
 */
import { ClusterSim, type MembershipTuning } from "./cluster-sim.js";

export interface ScenarioResult {
  /** Ticks each `await` took, labelled by its line. */
  readonly awaits: Array<{ line: string; ticks: number }>;
  readonly sim: ClusterSim;
}

function parseGroups(text: string): string[][] {
  const groups = [...text.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!.trim().split(/\s+/).filter(Boolean));
  return groups;
}

function link(text: string): [string, string] {
  const [a, b] = text.split(">");
  if (!a || !b) throw new Error(`expected a>b, got '${text}'`);
  return [a, b];
}

export function runScenario(script: string, seed: number, options: { verbose?: boolean } = {}): ScenarioResult {
  let sim: ClusterSim | null = null;
  let tuning: MembershipTuning = {};
  let delay: [number, number] = [1, 1];
  let markInstalls = new Map<string, number>();
  const awaits: Array<{ line: string; ticks: number }> = [];
  const installsOf = (s: ClusterSim) => new Map([...s.nodes.values()].map((n) => [n.id, n.installs]));
  const need = (): ClusterSim => {
    if (sim === null) throw new Error("scenario: `nodes` must come first");
    return sim;
  };
  const lines = script.split("\n").map((l) => l.replace(/#.*/, "").trim());
  lines.forEach((line, index) => {
    if (line === "") return;
    const [cmd, ...args] = line.split(/\s+/);
    const where = `line ${index + 1} '${line}'`;
    sim?.note(`SCRIPT ${line}`);
    switch (cmd) {
      case "tune":
        for (const kv of args) {
          const [k, v] = kv.split("=");
          tuning = { ...tuning, [k!]: Number(v) };
        }
        break;
      case "delay":
        delay = [Number(args[0]), Number(args[1] ?? args[0])];
        if (sim) [sim.net.delayMin, sim.net.delayMax] = delay;
        break;
      case "nodes":
        sim = new ClusterSim({ seed, membership: tuning, verbose: options.verbose ?? false });
        [sim.net.delayMin, sim.net.delayMax] = delay;
        for (const id of args) sim.addNode(id);
        markInstalls = installsOf(sim);
        break;
      case "add":
        for (const id of args) need().addNode(id);
        break;
      case "run":
        need().run(Number(args[0]));
        break;
      case "await": {
        const groups = parseGroups(args.slice(1).join(" "));
        awaits.push({ line: `${String(index + 1).padStart(3)}: ${line}`, ticks: need().awaitConverged(Number(args[0]), groups.length > 0 ? groups : undefined) });
        break;
      }
      case "hold": {
        const groups = parseGroups(args.slice(1).join(" "));
        need().hold(Number(args[0]), groups.length > 0 ? groups : undefined);
        break;
      }
      case "crash":
        args.forEach((id) => need().crash(id));
        break;
      case "restart":
        args.forEach((id) => need().restart(id));
        break;
      case "bounce":
        args.forEach((id) => {
          need().crash(id);
          need().restart(id);
        });
        break;
      case "partition":
        need().net.partition(parseGroups(args.join(" ")));
        break;
      case "isolate": {
        const s = need();
        s.net.partition([args, s.ids().filter((id) => !args.includes(id))]);
        break;
      }
      case "heal":
        need().net.healAll();
        break;
      case "cut":
        need().net.cut(...link(args[0]!));
        break;
      case "uncut":
        need().net.uncut(...link(args[0]!));
        break;
      case "linkloss":
        need().net.setLinkLoss(...link(args[0]!), Number(args[1]));
        break;
      case "loss":
        need().net.loss = Number(args[0]);
        break;
      case "dup":
        need().net.duplicate = Number(args[0]);
        break;
      case "flap": {
        // flap <id> every <k> for <ticks>
        const s = need();
        const id = args[0]!, every = Number(args[2]), ticks = Number(args[4]);
        for (let t = 0; t < ticks; t++) {
          if (t % every === 0) {
            if ((t / every) % 2 === 0) s.net.partition([[id], s.ids().filter((x) => x !== id)]);
            else s.net.healPartition();
          }
          s.runTick();
        }
        s.net.healPartition();
        break;
      }
      case "mark":
        markInstalls = installsOf(need());
        break;
      case "installs-at-most": {
        // installs-at-most <n> on <ids...>
        const s = need();
        const max = Number(args[0]);
        for (const id of args.slice(2)) {
          const node = s.node(id);
          const since = node.installs - (markInstalls.get(id) ?? 0);
          if (since > max) s.fail("scenario", `${where}: ${id} installed ${since} times since mark`);
        }
        break;
      }
      default:
        throw new Error(`scenario: unknown command at ${where}`);
    }
  });
  return { awaits, sim: need() };
}
