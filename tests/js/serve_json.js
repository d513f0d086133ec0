// The peers' one protocol: a JSON list of requests on stdin, the list of answers on stdout.
module.exports = function serveJson(handle) {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    input += chunk;
  });
  process.stdin.on("end", () => {
    const reqs = JSON.parse(input);
    process.stdout.write(JSON.stringify(reqs.map(handle)));
  });
};
