import { describe, expect, it } from "vitest";
import { LargeOperationGate } from "../../src/graphql/large-operations";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("LargeOperationGate", () => {
  it("runs at most `slots` operations at once, the rest in the order they came", async () => {
    const gate = new LargeOperationGate(2);
    const order: number[] = [];
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const leave = await gate.enter();
        running += 1;
        most = Math.max(most, running);
        order.push(i);
        await turn();
        running -= 1;
        leave();
      }),
    );
    expect(most).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });

  it("holds a slot across a turn of the event loop, so work started in the same turn queues behind it", async () => {
    const gate = new LargeOperationGate(1);
    const first = gate.enter();
    const second = gate.enter();
    expect(gate.load).toEqual({ running: 1, waiting: 1 });
    const leaveFirst = await first;
    let secondIn = false;
    void second.then(() => {
      secondIn = true;
    });
    leaveFirst();
    leaveFirst(); // twice is harmless: the slot is not freed again
    await Promise.resolve();
    expect(secondIn).toBe(false); // handed over in a later turn, not in this one
    (await second)();
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });
});
