// Command kage-gitops says what GitOps tools make of a live object, with their own code:
//
//	kage-gitops kstatus < object.json             Flux's status library (kstatus)
//	kage-gitops argocd-health SCRIPT < object.json an Argo CD health check (Lua), run by
//	                                               gopher-lua, the interpreter Argo CD embeds
//
// Both print one JSON line: {"status": ..., "message": ...}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kage-gitops:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	// Decoded as the API machinery decodes objects (integers stay integers).
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(input); err != nil {
		return fmt.Errorf("stdin is not a Kubernetes object: %w", err)
	}
	var answer struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	switch {
	case len(args) == 1 && args[0] == "kstatus":
		result, err := status.Compute(object)
		if err != nil {
			return err
		}
		answer.Status, answer.Message = result.Status.String(), result.Message
	case len(args) == 2 && args[0] == "argocd-health":
		script, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		answer.Status, answer.Message, err = health(string(script), object.Object)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("usage: kage-gitops kstatus | argocd-health SCRIPT (object on stdin)")
	}
	return json.NewEncoder(os.Stdout).Encode(answer)
}

// health runs a health script as Argo CD does: the object in the global `obj`, the script's
// return value a table with `status` and `message`.
func health(script string, object map[string]interface{}) (string, string, error) {
	state := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer state.Close()
	state.SetGlobal("obj", toLua(state, object))
	if err := state.DoString(script); err != nil {
		return "", "", err
	}
	result, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the health script returned no table")
	}
	return result.RawGetString("status").String(), result.RawGetString("message").String(), nil
}

func toLua(state *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case map[string]interface{}:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	case []interface{}:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}
