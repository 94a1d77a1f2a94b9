export async function runUiTest() {}
