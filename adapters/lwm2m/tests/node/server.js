// A LwM2M 1.0 server built on lwm2m-node-lib (telefonicaid), for the interop test of unidm's
// northbound client (tests/interop_node.rs). Usage: node server.js <port>
// Prints one JSON line per event: {"listening": port}, {"registered": ep, "payload": links},
// {"updated": ep, "payload": links}, {"deregistered": ep}, and the answer of each command.
// Commands, one JSON object per stdin line:
//   {"read": [ep, objectType, objectId, resourceId]}    -> {"read": path, "value": v} or {"error": ...}
//   {"write": [ep, objectType, objectId, resourceId, value]} -> {"written": path}
//   {"execute": [ep, objectType, objectId, resourceId]} -> {"executed": path}
// An objectType may carry a gateway prefix ("d0/5"): the library joins the path with '/'.
'use strict';

const lwm2m = require('lwm2m-node-lib').server;
const readline = require('readline');
const port = parseInt(process.argv[2], 10);

const config = {
    port: port,
    lifetimeCheckInterval: 1000,
    udpWindow: 100,
    defaultType: 'Device',
    types: [],
    logLevel: 'FATAL',
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    formats: [
        { name: 'application-vnd-oma-lwm2m/text', value: 1541 },
        { name: 'application-vnd-oma-lwm2m/tlv', value: 1542 },
        { name: 'application-vnd-oma-lwm2m/json', value: 1543 },
        { name: 'application-vnd-oma-lwm2m/opaque', value: 1544 }
    ],
    writeFormat: 'application-vnd-oma-lwm2m/text',
    defaultAcceptFormat: 'text/plain'
};

function out(o) {
    process.stdout.write(JSON.stringify(o) + '\n');
}

function device(ep, then) {
    lwm2m.getRegistry().getByName(ep, (error, dev) => {
        if (error) { out({ error: 'no device ' + ep + ': ' + error }); return; }
        then(dev);
    });
}

lwm2m.start(config, (error, info) => {
    if (error) { out({ error: 'start: ' + error }); process.exit(1); }
    lwm2m.setHandler(info, 'registration', (ep, lt, version, binding, payload, callback) => {
        out({ registered: ep, payload: payload });
        callback();
    });
    lwm2m.setHandler(info, 'updateRegistration', (obj, payload, callback) => {
        out({ updated: obj.name, payload: payload });
        callback();
    });
    lwm2m.setHandler(info, 'unregistration', (obj, callback) => {
        out({ deregistered: obj.name });
        callback();
    });
    out({ listening: port });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
    let cmd;
    try { cmd = JSON.parse(line); } catch (e) { out({ error: 'bad command: ' + line }); return; }
    if (cmd.read) {
        const [ep, t, i, r] = cmd.read;
        const path = '/' + [t, i, r].join('/');
        device(ep, (dev) => lwm2m.read(dev.id, t, i, r, (e, value) => {
            out(e ? { error: path + ': ' + (e.message || e.name || String(e)) } : { read: path, value: value });
        }));
    } else if (cmd.write) {
        const [ep, t, i, r, v] = cmd.write;
        const path = '/' + [t, i, r].join('/');
        device(ep, (dev) => lwm2m.write(dev.id, t, i, r, v, (e) => {
            out(e ? { error: path + ': ' + (e.message || e.name || String(e)) } : { written: path });
        }));
    } else if (cmd.execute) {
        const [ep, t, i, r] = cmd.execute;
        const path = '/' + [t, i, r].join('/');
        device(ep, (dev) => lwm2m.execute(dev.id, t, i, r, '', (e) => {
            out(e ? { error: path + ': ' + (e.message || e.name || String(e)) } : { executed: path });
        }));
    }
});
