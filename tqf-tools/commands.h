// The subcommands of the `tqf` tool. Each returns the process exit code:
// 0 success, 1 the operation failed (bad file, failed check), 2 usage error.
#ifndef TQF_TOOLS_COMMANDS_H_
#define TQF_TOOLS_COMMANDS_H_

namespace tqf::tools {

int CmdPack(int argc, char** argv);
int CmdInspect(int argc, char** argv);
int CmdVerify(int argc, char** argv);
int CmdCompare(int argc, char** argv);
int CmdUnpack(int argc, char** argv);
int CmdFetch(int argc, char** argv);
int CmdRun(int argc, char** argv);
int CmdBench(int argc, char** argv);
int CmdEval(int argc, char** argv);
int CmdServe(int argc, char** argv);
int CmdTokenize(int argc, char** argv);
int CmdSynth(int argc, char** argv);

}  // namespace tqf::tools

#endif  // TQF_TOOLS_COMMANDS_H_
