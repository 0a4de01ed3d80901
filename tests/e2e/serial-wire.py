#!/usr/bin/python3
"""serial-wire.py PORT_FILE VM_PORT — the serial cable between a BMC and its VM.

On a real machine the BMC's UART is wired to the host's serial port for good; here ipmi_sim's
`sol "tcp:127.0.0.1:PORT"` connects as a client and retries only every 10 s (checked on these machines), and a power cycle restarts QEMU and its serial socket, so SOL would miss the first
seconds of every boot.  This program is the cable: it listens on 127.0.0.1 (a free port, written
to PORT_FILE once listening) for ipmi_sim and stays connected to it, and connects as a client to
the VM's serial socket (QEMU -chardev socket,server=on,wait=off on 127.0.0.1:VM_PORT), retrying
every 20 ms while the VM is off, so it is attached within milliseconds of a power on.  Bytes go
both ways unchanged; bytes for a side that is not connected are dropped (like a serial line with
nothing on the other end).  One BMC connection at a time.  Runs until killed.  Standard library."""
import os
import select
import socket
import sys


def main():
    port_file, vm_port = sys.argv[1], int(sys.argv[2])
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(lst.getsockname()[1]))
    os.rename(tmp, port_file)
    bmc = vm = None
    while True:
        if vm is None:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", vm_port))
                vm = s
            except OSError:
                s.close()
        rd = [lst] + [x for x in (bmc, vm) if x is not None]
        r, _, _ = select.select(rd, [], [], 0.02 if vm is None else 1.0)
        for x in r:
            if x is lst:
                c, _ = lst.accept()
                if bmc is not None:
                    bmc.close()
                bmc = c
                continue
            try:
                data = x.recv(65536)
            except OSError:
                data = b""
            other = vm if x is bmc else bmc
            if not data:
                x.close()
                if x is bmc:
                    bmc = None
                else:
                    vm = None
                continue
            if other is not None:
                try:
                    other.sendall(data)
                except OSError:
                    pass


if __name__ == "__main__":
    main()
